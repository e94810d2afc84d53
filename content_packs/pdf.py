"""PDF at build time: an e-textbook's PDF also becomes one picture per page and the text of each page.

Students' phones then read a PDF textbook inside the school's own page, a page at a time as they
scroll (each picture is its own small content-addressed file), with no PDF viewer, download or
outside app; the text (with where each line sits on the page) lets them select, search and hear it.
Rendering is done once, where the pack is built (PDFium through pypdfium2), not on the school's
small server nor on cheap phones. The PDF itself stays in the pack for printing and e-readers.
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from .manifest import InvalidPack, check_path

log = logging.getLogger(__name__)
PAGE_WIDTH = 1000  # pixels: sharp on a 360 px phone at 2-3x, and still when zoomed in twice
WEBP_QUALITY = 70
MAX_PAGES = 2000


def render_pdf(path: Path, prefix: str) -> tuple[dict, dict[str, bytes]]:
    """(the pages document, files by pack path) for the PDF at `path`; pictures go under `prefix`."""
    import pypdfium2 as pdfium  # only pack build needs it

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        # Served as it is, as before (a browser or e-reader may still open it): just no pages.
        log.warning("%s cannot be read as a PDF (%s): it is kept as a file, without pages", path.name, exc)
        return {"pages": []}, {}
    files: dict[str, bytes] = {}
    pages = []
    try:
        if len(document) > MAX_PAGES:
            raise InvalidPack("%(name)s has %(count)d pages; at most %(limit)d are shown as pages",
                              name=path.name, count=len(document), limit=MAX_PAGES)
        for index in range(len(document)):
            page = document[index]
            width, height = page.get_size()
            bitmap = page.render(scale=PAGE_WIDTH / width if width else 1, draw_annots=True)
            picture = bitmap.to_pil()
            out = io.BytesIO()
            picture.convert("RGB").save(out, "WEBP", quality=WEBP_QUALITY, method=4)
            name = check_path(f"{prefix}{index + 1:04d}.webp")
            files[name] = out.getvalue()
            text_page = page.get_textpage()
            lines = []
            for rect in range(text_page.count_rects()):
                left, bottom, right, top = text_page.get_rect(rect)
                text = text_page.get_text_bounded(left, bottom, right, top).strip()
                if text and width and height:
                    # where the line sits, in per cent of the page from its top left corner
                    lines.append([round(100 * left / width, 2), round(100 * (height - top) / height, 2),
                                  round(100 * (right - left) / width, 2), round(100 * (top - bottom) / height, 2),
                                  text])
            pages.append({"image": name, "width": picture.width, "height": picture.height,
                          "text": text_page.get_text_range().replace("\r\n", "\n").strip(), "lines": lines})
            text_page.close()
            bitmap.close()
            page.close()
    finally:
        document.close()
    return {"pages": pages}, files


def expand_pdf_nodes(node: dict, source: Path, generated: dict[str, bytes]) -> None:
    """Give PDF e-textbooks (recursively) `pdf_pages`: per language, a pages document and its pictures."""
    for child in node.get("children", []) if isinstance(node, dict) else []:
        expand_pdf_nodes(child, source, generated)
    if not isinstance(node, dict) or node.get("kind") != "ebook" or not isinstance(node.get("pdf"), dict):
        return
    pages = {}
    for language, rel in node["pdf"].items():
        check_path(rel)
        if not (source / rel).is_file():
            continue  # the manifest check names the missing file
        prefix = f"ebooks/{node.get('id')}/{language}/pages/"
        document, files = render_pdf(source / rel, prefix)
        if not document["pages"]:
            continue
        generated.update(files)
        target = check_path(prefix + "pages.json")
        generated[target] = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        pages[language] = target
    if pages:
        node["pdf_pages"] = pages
