"""The JSON API under /api/v1/, described at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from .. import __version__
from ..coach.services import visible_classrooms
from ..security import csrf_token, roles_required

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
