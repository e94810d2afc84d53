"""Sending a stored file: strong ETag, 304, and byte ranges streamed by the server's file wrapper.

werkzeug's `send_file` wraps ranges in an iterator that waitress can only send in small pieces;
here a range is a seek plus a length, and waitress streams it straight from the file.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Response, request
from werkzeug.http import parse_range_header, quote_etag
from werkzeug.wsgi import wrap_file

BLOCK = 256 * 1024


def _not_modified(etag: str) -> bool:
    return etag in request.if_none_match or "*" in request.if_none_match


def send_blob(path: Path, etag: str, mimetype: str) -> Response:
    """Answer GET/HEAD for `path`: 200, 206 (one range), 304 or 416."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return Response(status=404)
    size = os.fstat(handle.fileno()).st_size
    headers = {"ETag": quote_etag(etag), "Accept-Ranges": "bytes"}
    if _not_modified(etag):
        handle.close()
        return Response(status=304, headers=headers)
    status, start, length = 200, 0, size
    ranges = parse_range_header(request.headers.get("Range"))
    if_range = request.headers.get("If-Range")
    # Several ranges at once (rare; players ask for one) get the whole file, as RFC 9110 allows.
    if ranges is not None and len(ranges.ranges) == 1 and (if_range is None
                                                           or if_range.strip() == quote_etag(etag)):
        span = ranges.range_for_length(size)
        if span is None:
            handle.close()
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        start, stop = span
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
