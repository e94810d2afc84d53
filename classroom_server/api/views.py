"""The JSON API under /api/v1/, described at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, request, url_for

from .. import __version__
from ..coach.services import visible_classrooms
from ..content import services as content
from ..security import csrf_token, json_error, roles_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}


def _op(summary: str, schema: dict, secured: bool = True) -> dict:
    op = {"summary": summary,
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}}
    if secured:
        op["responses"]["401"] = {"description": "Not signed in",
                                  "content": {"application/json": {"schema": _ERROR}}}
        op["responses"]["403"] = {"description": "The role may not use this",
                                  "content": {"application/json": {"schema": _ERROR}}}
    return op


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Classroom server API", "version": __version__,
             "description": "Sign in through the web page; the session cookie authenticates API calls. "
                            "State-changing calls carry the X-CSRF-Token header (its value is in /me)."},
    "paths": {
        "/api/v1/me": {"get": _op("The signed-in user, and the CSRF token for state-changing calls", {
            "type": "object", "properties": {
                "id": {"type": "integer"}, "display_name": {"type": "string"},
                "role": {"type": "string", "enum": ["admin", "teacher", "student"]},
                "language": {"type": "string", "nullable": True}, "csrf_token": {"type": "string"}}})},
        "/api/v1/classes": {"get": _op("Classes the user teaches (administrators: all classes)", {
            "type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "grade": {"type": "integer", "nullable": True},
                "signin_mode": {"type": "string", "enum": ["name", "pin", "picture"]},
                "students": {"type": "integer"}}}})},
        "/api/v1/search": {"get": {**_op("Search lessons, chapters, exercises and media (any signed-in user)", {
            "type": "object", "properties": {
                "total": {"type": "integer"},
                "hits": {"type": "array", "items": {"type": "object", "properties": {
                    "pack_id": {"type": "string"}, "node_id": {"type": "string"}, "kind": {"type": "string"},
                    "title": {"type": "string"}, "snippet_html": {"type": "string"},
                    "language": {"type": "string"}, "url": {"type": "string"}}}}}}),
            "parameters": [
                {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 200}},
                {"name": "subject", "in": "query", "schema": {"type": "string"}},
                {"name": "grade", "in": "query", "schema": {"type": "integer"}},
                {"name": "language", "in": "query", "schema": {"type": "string", "enum": ["kk", "ru", "en"]}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}]}},
        "/api/v1/openapi.json": {"get": _op("This description", {"type": "object"}, secured=False)},
    },
}


@bp.get("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


@bp.get("/me")
def me():
    user = g.user
    return jsonify(id=user.id, display_name=user.display_name, role=user.role, language=user.language,
                   csrf_token=csrf_token())


@bp.get("/classes")
def classes():
    roles_required("teacher", "admin")()
    return jsonify([{"id": c.id, "name": c.name, "grade": c.grade, "signin_mode": c.signin_mode,
                     "students": c.student_count} for c in visible_classrooms(g.user)])


@bp.get("/search")
def search():
    text = request.args.get("q", "").strip()[:200]
    if not text:
        abort(json_error(400, "missing_query", "Give the words to search for as ?q=..."))
    language = request.args.get("language")
    page = max(1, request.args.get("page", 1, type=int))
    result = content.search(text, subject=request.args.get("subject") or None,
                            grade=request.args.get("grade", type=int),
                            language=language if language in ("kk", "ru", "en") else None,
                            limit=20, offset=(page - 1) * 20)
    return jsonify(total=result.total, hits=[
        {"pack_id": h.pack_id, "node_id": h.node_id, "kind": h.kind, "title": h.title,
         "snippet_html": h.snippet_html, "language": h.language,
         "url": url_for("content.node_page", pack_id=h.pack_id, node_id=h.node_id, lang=h.language)}
        for h in result.hits])
