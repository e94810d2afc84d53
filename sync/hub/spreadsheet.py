"""Exports as an Excel workbook (.xlsx) beside the CSV: the same rows, numbers as numbers, dates as
dates, a header row and a frozen first line per sheet. openpyxl's write-only mode streams the rows,
so a ministry's 7,500 schools take no more memory than a district's five.
"""
from __future__ import annotations

import datetime
import io
import re
from typing import Any, Collection, Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

_MONTH = re.compile(r"^\d{4}-\d{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$")
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")
MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def typed(value: Any, is_date: bool = False) -> tuple[Any, str | None]:
    """A value as the spreadsheet should hold it, and its number format: in a date column, ISO months,
    days and UTC moments (as the CSV writes them) become dates; numbers stay numbers; the rest is text."""
    if isinstance(value, str) and is_date:
        if _MONTH.match(value):
            return datetime.datetime(int(value[:4]), int(value[5:7]), 1), "yyyy-mm"
        if _DAY.match(value):
            return datetime.datetime.fromisoformat(value), "yyyy-mm-dd"
        if _MOMENT.match(value):
            return datetime.datetime.fromisoformat(value.rstrip("Z")), "yyyy-mm-dd hh:mm:ss"
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None), "yyyy-mm-dd hh:mm:ss"
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day), "yyyy-mm-dd"
    return value, None


def sheet_title(title: str, taken: set[str]) -> str:
    """Excel's rules for a sheet name: at most 31 characters, none of []:*?/\\, unique."""
    base = _BAD_TITLE.sub(" ", title).strip()[:31] or "Sheet"
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


Sheet = tuple[str, Sequence[str], Sequence[str], Iterable[dict], Collection[str]]


def workbook(sheets: Iterable[Sheet]) -> bytes:
    """An .xlsx of sheets given as (title, column keys, header texts, rows as dicts, date columns)."""
    book = Workbook(write_only=True)
    taken: set[str] = set()
    bold = Font(bold=True)
    for title, columns, headers, rows, dates in sheets:
        sheet = book.create_sheet(sheet_title(title, taken))
        sheet.freeze_panes = "A2"
        header = []
        for text in headers:
            cell = WriteOnlyCell(sheet, value=text)
            cell.data_type = "s"
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in rows:
            sheet.append([_cell(sheet, row.get(column), column in dates) for column in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(sheet, value: Any, is_date: bool) -> Any:
    value, number_format = typed(value, is_date)
    if number_format is None and not (isinstance(value, str) and value.startswith("=")):
        return value  # a plain value: openpyxl types it, and is several times faster than with a cell object
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # a name starting with "=" stays text: openpyxl would write it as a formula
    if number_format:
        cell.number_format = number_format
    return cell
