"""The student's side: home with assigned work and the library."""
from __future__ import annotations

from flask import Blueprint, g, render_template

from ..accounts.services import user_classrooms
from ..security import roles_required

bp = Blueprint("learn", __name__, url_prefix="/learn", template_folder="templates")
bp.before_request(roles_required("student"))


@bp.get("/")
def home():
    return render_template("learn/home.html", classes=user_classrooms(g.user))
