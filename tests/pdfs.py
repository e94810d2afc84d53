"""PDF textbooks made here with PDFium (pypdfium2): pages of text and a drawing, deterministic."""
from __future__ import annotations

import ctypes
import io
import json
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as raw


def textbook(pages: int, words: str = "Fractions") -> bytes:
    """An A4 PDF of `pages` pages: a heading 'Page N', a line of text naming `words`, a rectangle."""
    document = pdfium.PdfDocument.new()
    font = raw.FPDFText_LoadStandardFont(document.raw, b"Helvetica")
    for number in range(1, pages + 1):
        page = document.new_page(595, 842)
        for text, size, y in ((f"Page {number}", 28, 760), (f"{words} on page {number}: 1/2 = 2/4", 14, 720)):
            item = raw.FPDFPageObj_CreateTextObj(document.raw, font, size)
            encoded = (text + "\0").encode("utf-16-le")
            raw.FPDFText_SetText(item, ctypes.cast(ctypes.c_char_p(encoded), ctypes.POINTER(raw.FPDF_WCHAR)))
            raw.FPDFPageObj_Transform(item, 1, 0, 0, 1, 72, y)
            raw.FPDFPage_InsertObject(page.raw, item)
        box = raw.FPDFPageObj_CreateNewRect(72, 400, 300, 150)
        raw.FPDFPageObj_SetFillColor(box, 40, 120, 200, 255)
        raw.FPDFPath_SetDrawMode(box, raw.FPDF_FILLMODE_ALTERNATE, 0)
        raw.FPDFPage_InsertObject(page.raw, box)
        raw.FPDFPage_GenerateContent(page.raw)
        page.close()
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def pdf_pack(folder: Path, pages: int = 40) -> Path:
    from .pdfs import textbook
    (folder / "books").mkdir(parents=True, exist_ok=True)
    (folder / "books" / "fractions.pdf").write_bytes(textbook(pages))
    (folder / "pack.json").write_text(json.dumps({
        "format_version": 1, "id": "local.pdf", "version": "1.0.0", "title": {"en": "A PDF textbook"},
        "subject": "mathematics", "grades": [5], "languages": ["en"], "license": "CC0-1.0", "authors": ["Us"],
        "review": {"status": "draft"},
        "nodes": [{"id": "fractions", "kind": "ebook", "title": {"en": "Fractions"},
                   "pdf": {"en": "books/fractions.pdf"}}]}), encoding="utf-8")
    return folder
