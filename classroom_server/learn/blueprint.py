"""The learn blueprint and what its view files share: the student-only gate, the device cookie,
and reading an answer form (its size limit, numbers, the record id the page's script made).

The view files (views, tutor_views) import this module and add their routes to `bp`; this module
imports none of them. `app.create_app` imports them all.
"""
from __future__ import annotations

import time

from flask import Blueprint, request

from ..domain import scoring
from ..security import roles_required
from . import practice
from .records import valid_device_id

bp = Blueprint("learn", __name__, url_prefix="/learn", template_folder="templates")
bp.before_request(roles_required("student"))
bp.after_request(practice.remember_device)

# An answer form is a few short fields; anything much bigger is not one of ours.
MAX_ANSWER_BYTES = 20_000


def now_ms() -> int:
    return int(time.time() * 1000)


def int_arg(value: str | None) -> int | None:
    try:
        return int(value) if value is not None and len(value) < 19 else None  # within a database integer
    except ValueError:
        return None


def record_id() -> str | None:
    """The id the page's script gave this answer (it keeps the answer on the device until the
    server has it, and may send it again): sending it twice stores one record."""
    value = request.form.get("record_id")
    return value if valid_device_id(value) else None


def form_response(item: dict) -> object:
    """The form's fields in the shape scoring.score expects for this item type."""
    form = request.form
    kind = item["type"]
    if kind == "multiple":
        values = form.getlist("answer")
        if not values:
            raise scoring.ResponseError("the answer is empty")
        return values
    if kind == "ordering":
        positions: dict[int, str] = {}
        for name, value in form.items(multi=True):
            if not name.startswith("order-"):
                continue
            position = int_arg(value)
            if position is None or not 1 <= position <= len(item["choices"]):
                raise scoring.ResponseError("each position is a number from 1 to %(count)d",
                                            count=len(item["choices"]))
            if position in positions:
                raise scoring.ResponseError("position %(position)d is given twice", position=position)
            positions[position] = name[len("order-"):]
        return [positions[key] for key in sorted(positions)]
    if kind == "matching":
        return [[name[len("match-"):], value] for name, value in form.items(multi=True)
                if name.startswith("match-") and value]
    values = form.getlist("answer")  # single, numeric, text
    if not values:
        raise scoring.ResponseError("the answer is empty")
    return values[0] if len(values) == 1 else values
