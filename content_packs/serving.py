"""Serving a pack's stored files over HTTP to the letter of RFC 9110: conditionals (If-Match,
If-None-Match, If-Range), byte ranges, 304, 412 and 416. The school's `/content` and `/opds/book`
and the hub's `/blobs` all answer through `send_blob` (here because both the school server and the
hub may import content_packs, and neither may import the other).

werkzeug's `send_file` wraps ranges in an iterator that waitress can only send in small pieces;
here a range is a seek plus a length, and waitress streams it straight from the file. werkzeug's
Range parser also departs from RFC 9110 where it matters to players and download managers
(`bytes=-0` passes as "the whole file", a suffix longer than the file is refused, no spaces after
the commas of a list), so ranges are read by `byte_ranges` below.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from werkzeug.http import quote_etag
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

BLOCK = 256 * 1024
MAX_RANGES = 64  # more ranges than this in one request: ignore the header (serve the whole file)

_RANGE_SPEC = re.compile(r"(\d*)-(\d*)")


class Unsatisfiable(Exception):
    """No range of a valid Range header lies within the file: 416."""


def byte_ranges(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """The (start, stop) spans a Range header asks of a `size`-byte file, coalesced and in order.

    None: no usable header (absent, another unit, invalid syntax, too many ranges), so the whole
    file is served. Raises Unsatisfiable when the header is valid and no range is satisfiable.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not _:
        return None
    parts = [part.strip() for part in spec.split(",")]
    parts = [part for part in parts if part]  # a list may have empty elements (RFC 9110 5.6.1)
    if not parts or len(parts) > MAX_RANGES:
        return None
    spans = []
    for part in parts:
        match = _RANGE_SPEC.fullmatch(part)
        if match is None or match[0] == "-":
            return None
        first, last = match.groups()
        if first:  # int-range: first-pos "-" [last-pos]
            start = int(first)
            if last and int(last) < start:
                return None  # an invalid range-spec makes the whole header invalid
            if start < size:
                spans.append((start, min(int(last) + 1, size) if last else size))
        else:  # suffix-range: the last N bytes, the whole file if it is shorter than N
            length = int(last)
            if length > 0 and size > 0:
                spans.append((max(0, size - length), size))
    if not spans:
        raise Unsatisfiable()
    spans.sort()
    merged = [spans[0]]
    for start, stop in spans[1:]:
        if start <= merged[-1][1]:  # overlapping or adjacent: one span
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _if_match_fails(request: Request, etag: str) -> bool:
    """RFC 9110 13.1.1: If-Match compares strongly; `*` matches any current representation."""
    if "If-Match" not in request.headers:
        return False
    wanted = request.if_match
    return not (wanted.star_tag or wanted.contains(etag))


def _not_modified(request: Request, etag: str) -> bool:
    """RFC 9110 13.1.2: If-None-Match compares weakly, so W/"x" matches "x"."""
    wanted = request.if_none_match
    return wanted.star_tag or wanted.contains_weak(etag)


def send_blob(request: Request, path: Path, etag: str, mimetype: str) -> Response:
    """Answer GET/HEAD for `path` with its strong `etag`: 200, 206 (one range), 304, 412 or 416.

    Several ranges that do not merge into one get the whole file (200), as RFC 9110 allows.
    """
    try:
        handle = open(path, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return Response(status=404)
    size = os.fstat(handle.fileno()).st_size
    headers = {"ETag": quote_etag(etag), "Accept-Ranges": "bytes"}
    if _if_match_fails(request, etag):
        handle.close()
        return Response(status=412, headers=headers)
    if _not_modified(request, etag):
        handle.close()
        return Response(status=304, headers=headers)
    status, start, length = 200, 0, size
    if_range = request.headers.get("If-Range")
    # If-Range: a strong comparison with our ETag; a date never matches (we send no Last-Modified).
    if if_range is None or if_range.strip() == quote_etag(etag):
        try:
            spans = byte_ranges(request.headers.get("Range"), size)
        except Unsatisfiable:
            handle.close()
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        if spans is not None and len(spans) == 1:
            start, stop = spans[0]
            status, length = 206, stop - start
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        handle.close()
        return Response(status=status, headers=headers, mimetype=mimetype)
    handle.seek(start)
    # The server's wsgi.file_wrapper sends from the current position, up to Content-Length bytes.
    body = wrap_file(request.environ, handle, BLOCK)
    return Response(body, status=status, headers=headers, mimetype=mimetype, direct_passthrough=True)
