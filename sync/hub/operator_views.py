"""The education department's pages under /ops/: sign-in, the schools of one's scope (page, JSON, CSV),
operators below one's level, and the audit log. Every request of a signed-in operator is audited.
"""
from __future__ import annotations

import hmac
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import Babel, get_locale, gettext

from . import alerts, charts, evaluation, learning, operators, pilot, programmes, spreadsheet
from .db import database
from .models import Operator

bp = Blueprint("ops", __name__, url_prefix="/ops")

LANGUAGES = ("kk", "ru", "en")
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
COOKIE = "hub_session"
LANG_COOKIE = "hub_lang"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    # No script and nothing from elsewhere: the pages are self-contained.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
SCHOOL_COLUMNS = ["school_id", "name", "register_id", "region", "district", "locality", "rural", "language",
                  "students", "status", "last_contact", "records_received"]


def select_locale() -> str:
    operator = g.get("operator")
    if operator is not None and operator.language in LANGUAGES:
        return operator.language
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "kk"


def init_app(app) -> None:
    """Translations for the hub's pages (sync/hub/translations, docs/translating.md) and the blueprint."""
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    app.register_blueprint(bp)


def error_text(exc: operators.OperatorError) -> str:
    return gettext(exc.message, **exc.params)


def evaluation_text(exc: evaluation.EvaluationError) -> str:
    return gettext(exc.message, **exc.params)


@bp.before_request
def load_operator():
    g.operator = g.session = None
    found = operators.session_of(request.cookies.get(COOKIE))
    if found is not None:
        g.operator, g.session = found
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        expected = g.session.csrf if g.session is not None else request.cookies.get("hub_csrf_login", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            abort(400, description=gettext("the form is out of date or was not sent from this site: reload the "
                                           "page and send it again"))
    if request.endpoint not in ("ops.login", "ops.language") and g.operator is None:
        if request.path.endswith((".json", ".csv", ".xlsx")):
            abort(401, description=gettext("sign in first: POST /ops/login, then send the hub_session cookie"))
        return redirect(url_for("ops.login", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def finish(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if g.get("operator") is not None:
        detail = {"method": request.method, "path": request.path, "status": response.status_code}
        if request.query_string:
            detail["query"] = request.query_string.decode("latin-1")[:500]
        detail.update(g.get("audit_detail") or {})
        operators.audit(g.operator.username, g.get("audit_action") or request.endpoint or "request",
                        request.remote_addr, **detail)
    return response


def _page(template: str, **context) -> Response:
    html = render_template(template, operator=g.operator, csrf=g.session.csrf if g.session else None,
                           lang=str(get_locale()), languages=LANGUAGE_NAMES,
                           hub_name=current_app.config["HUB_NAME"], level_names=level_names(), **context)
    return Response(html, mimetype="text/html")


def level_names() -> dict[str, str]:
    return {"ministry": gettext("ministry"), "region": gettext("region"), "district": gettext("district"),
            "school": gettext("school director")}


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/ops/") and not target.startswith("//"):
        return target
    return url_for("ops.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        csrf = request.cookies.get("hub_csrf_login") or operators.secrets.token_urlsafe(32)
        response = _page("ops/login.html", login_csrf=csrf, next=request.args.get("next", ""), error=None)
        response.set_cookie("hub_csrf_login", csrf, httponly=True, samesite="Strict", secure=request.is_secure,
                            path="/ops/")
        return response
    username = request.form.get("username", "").strip().lower()
    if operators.failed_recently(username) >= operators.FAILED_LOGINS_ALLOWED:
        operators.audit(username, "login_refused", request.remote_addr)
        error = gettext("Too many wrong passwords for this name: wait 15 minutes and try again.")
        return _page("ops/login.html", login_csrf=request.form.get("csrf"), next="", error=error), 429
    operator = operators.sign_in(username, request.form.get("password", ""))
    if operator is None:
        operators.audit(username or None, "login_failed", request.remote_addr)
        error = gettext("Wrong name or password, or the account is disabled.")
        return _page("ops/login.html", login_csrf=request.form.get("csrf"), next=request.form.get("next", ""),
                     error=error), 401
    token, _ = operators.open_session(operator)
    operators.audit(operator.username, "login", request.remote_addr)
    response = redirect(_safe_next(request.form.get("next")), 303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", secure=request.is_secure, path="/")
    response.delete_cookie("hub_csrf_login", path="/ops/")
    return response


@bp.post("/logout")
def logout():
    operators.close_session(request.cookies.get(COOKIE))
    g.audit_action = "logout"
    response = redirect(url_for("ops.login"), 303)
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.get("/language/<lang>")
def language(lang: str):
    if lang not in LANGUAGES:
        abort(404)
    if g.operator is not None:
        Operator.update(language=lang).where(Operator.username == g.operator.username).execute()
    response = redirect(_safe_next(request.args.get("next")), 303)
    response.set_cookie(LANG_COOKIE, lang, samesite="Lax", secure=request.is_secure, max_age=365 * 86400, path="/")
    return response


def _schools() -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith("_")}
            for row in operators.scope_rows(operators.scope_of(g.operator))]


PAGE_SIZE = 500  # schools on one page (the ministry's 7,500 would be 1.7 MB); the JSON and CSV hold all


@bp.get("/")
def home():
    schools = _schools()
    raw = request.args.get("page", "1").strip()
    pages = max(1, -(-len(schools) // PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= pages:
        abort(400, description=gettext("page must be a whole number from 1 to %(pages)d", pages=pages))
    page = int(raw)
    shown = schools[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return _page("ops/home.html", schools=shown, count=len(schools), page=page, pages=pages,
                 first=(page - 1) * PAGE_SIZE + 1, scope=operators.scope_of(g.operator),
                 students=sum(s["students"] or 0 for s in schools))


@bp.get("/schools.json")
def schools_json():
    scope = operators.scope_of(g.operator)
    return {"scope": {"level": scope.level, "region": scope.region, "district": scope.district,
                      "school": scope.school}, "schools": _schools()}


@bp.get("/schools.csv")
def schools_csv():
    g.audit_action = "export"
    body = operators.csv_text(_schools(), SCHOOL_COLUMNS)
    return Response("\ufeff" + body, mimetype="text/csv",  # the BOM: Excel then reads it as UTF-8
                    headers={"Content-Disposition": 'attachment; filename="schools.csv"'})


def column_titles() -> dict[str, str]:
    """Header texts of the spreadsheets, in the operator's language."""
    return {"school_id": gettext("Hub school id"), "name": gettext("Name"), "register_id": gettext("Register id"),
            "region": gettext("Region"), "district": gettext("District"), "locality": gettext("Locality"),
            "rural": gettext("Rural"), "language": gettext("Language of instruction"),
            "students": gettext("Students"), "status": gettext("Status"), "last_contact": gettext("Last contact (UTC)"),
            "records_received": gettext("Records received"), "table": gettext("Table"), "area": gettext("Area"),
            "subject": gettext("Subject"), "grade": gettext("Grade"), "month": gettext("Month"),
            "skill": gettext("Skill"), "pack": gettext("Pack"), "percent_correct": gettext("Correct answers, %"),
            "answers": gettext("Answers"), "suppressed": gettext("Hidden")}


def _xlsx(name: str, sheets: list) -> Response:
    g.audit_action = "export"
    titles = column_titles()
    body = spreadsheet.workbook((title, columns, [titles[c] for c in columns], rows, dates)
                                for title, columns, rows, dates in sheets)
    return Response(body, mimetype=spreadsheet.MIME,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@bp.get("/schools.xlsx")
def schools_xlsx():
    return _xlsx("schools", [(gettext("Schools"), SCHOOL_COLUMNS, _schools(), {"last_contact"})])


@bp.get("/schools/<school_id>")
def school_page(school_id: str):
    found = [s for s in _schools() if s["school_id"] == school_id]
    if not found:
        abort(404, description=gettext("no such school in your scope"))
    return _page("ops/school.html", school=found[0])


@bp.route("/users", methods=["GET", "POST"])
def users():
    creates = operators.CREATES[g.operator.level]
    if not creates:
        abort(403, description=gettext("a school director's account is read-only and manages no users"))
    error = done = None
    status = 200
    if request.method == "POST":
        form = request.form
        g.audit_action = "user_create"
        g.audit_detail = {"username": form.get("username", ""), "level": form.get("level", ""),
                          "region": form.get("region", ""), "district": form.get("district", ""),
                          "school": form.get("school", "")}
        region = form.get("region") or g.operator.region
        district = form.get("district") or (g.operator.district if form.get("level") != "region" else None)
        try:
            made = operators.create_operator(form.get("username", ""), form.get("password", ""),
                                             form.get("level", ""), display_name=form.get("display_name"),
                                             region=region, district=district, school=form.get("school"),
                                             creator=g.operator)
            done = made.username
        except operators.OperatorError as exc:
            error, status = error_text(exc), 400
    return _page("ops/users.html", users=operators.managed(g.operator), creates=creates, error=error,
                 done=done, places=operators.places(operators.scope_of(g.operator))), status


@bp.get("/audit")
def audit_page():
    return _page("ops/audit.html", entries=operators.audit_entries(g.operator))


def _learning() -> dict:
    grade = request.args.get("grade", "").strip()
    if grade and not grade.lstrip("-").isdigit():
        abort(400, description=gettext("grade must be a whole number"))
    subject = request.args.get("subject", "").strip() or None
    with database.reading() as source:  # aggregates only: a streaming replica serves them when one is set
        try:
            data = learning.view(operators.scope_of(g.operator), request.args.get("area", "").strip() or None,
                                 subject, int(grade) if grade and subject else None)
        except learning.OutOfScope:
            abort(404, description=gettext("no such area in your scope"))
    data["read_from"] = source
    return data


def _pct_text(cell: dict | None) -> str:
    if cell is None:
        return ""
    if cell.get("suppressed"):
        if cell.get("reason") == "complement":
            return gettext("hidden, so that a smaller cell cannot be worked out")
        return gettext("fewer than %(count)d students", count=learning.analytics.MIN_STUDENTS)
    return "" if cell.get("percent_correct") is None else f"{cell['percent_correct']:g} %"


@bp.get("/learning")
def learning_page():
    data = _learning()
    names = {area: (gettext("the country") if area == learning.COUNTRY else text)
             for area, text in data["labels"].items()}
    chart = ""
    if data["growth"]:
        series = [(names[area], [None if row["cells"][area] is None or row["cells"][area].get("suppressed")
                                 else row["cells"][area]["percent_correct"] for row in data["growth"]])
                  for area in data["shown"]]
        chart = charts.line_chart(
            "growth", gettext("Correct answers by month, %(subject)s grade %(grade)s (%%)", subject=data["subject"],
                              grade=data["grade"]),
            gettext("Lines for %(areas)s; the table below gives every month's numbers.",
                    areas=", ".join(names[a] for a in data["shown"])), data["months"], series)
    return _page("ops/learning.html", data=data, names=names, chart=chart, pct=_pct_text, read_from=data["read_from"],
                 others=", ".join(names[a] for a in data["compare"]) or "-")


@bp.get("/learning.json")
def learning_json():
    return _learning()


@bp.get("/learning.csv")
def learning_csv():
    g.audit_action = "export"
    data = _learning()
    body = operators.csv_text(learning.csv_rows(data), learning.CSV_COLUMNS)
    return Response("\ufeff" + body, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="learning.csv"'})


def learning_sheets(data: dict) -> list:
    """The learning export as one sheet per table, named in the operator's language; a hidden cell's
    "Hidden" says why: fewer than 5 students, or hidden as a complement."""
    titles = {"subject": gettext("By subject and grade"), "month": gettext("Month by month"),
              "skill": gettext("Skills"), "part": gettext("Side by side"), "pack": gettext("Content used")}
    why = {"yes": gettext("fewer than %(count)d students", count=learning.analytics.MIN_STUDENTS),
           "complement": gettext("complementary")}
    numbers = ["percent_correct", "answers", "students", "suppressed"]
    columns = {"subject": ["area", "subject", "grade"], "month": ["area", "subject", "grade", "month"],
               "skill": ["area", "subject", "grade", "skill"], "part": ["area", "subject", "grade"],
               "pack": ["area", "pack"]}
    rows = [{**row, "suppressed": why.get(row["suppressed"], "")} for row in learning.csv_rows(data)]
    return [(titles[table], columns[table] + numbers, [r for r in rows if r["table"] == table], {"month"})
            for table in titles]


@bp.get("/learning.xlsx")
def learning_xlsx():
    return _xlsx("learning", learning_sheets(_learning()))


def alert_text(alert: alerts.Alert) -> str:
    """One warning as a sentence with its evidence, in the operator's language."""
    e = alert.evidence
    if alert.kind == "silent":
        if e["days_silent"] is None:
            return gettext("%(name)s: never heard from since it was enrolled", name=alert.name)
        return gettext("%(name)s: not heard from for %(days)d days (last contact %(last)s UTC)", name=alert.name,
                       days=e["days_silent"], last=e["last_contact"])
    if alert.kind == "broken_sync":
        return gettext("%(name)s: holds %(held)d records beyond a missing one for more than a day (acknowledged up to "
                       "%(acked)d): its sync is broken", name=alert.name, held=e["held_beyond_gap"], acked=e["acked"])
    if alert.kind == "activity_stalled":
        return gettext("%(name)s: %(new)d records in the last %(days)d days against %(old)d in the %(days)d days "
                       "before (%(change)d %%), while the rest of its district changed %(district)d %%",
                       name=alert.name, new=e["records_last"], old=e["records_before"], days=e["days"],
                       change=e["change_percent"], district=e["district_change_percent"])
    if alert.kind == "mastery_stalled":
        return gettext("%(name)s: correct answers %(s0)s %% in %(m0)s and %(s1)s %% in %(m1)s, while its district "
                       "went from %(d0)s %% to %(d1)s %% (%(students)d students)", name=alert.name,
                       s0=e["school_percent"][0], s1=e["school_percent"][1], m0=e["months"][0], m1=e["months"][1],
                       d0=e["district_percent"][0], d1=e["district_percent"][1], students=e["students"])
    if alert.kind == "behind_plan":
        return gettext("%(name)s, pilot school of %(programme)s: %(s0)d and %(s1)d active students, %(n0)d and %(n1)d "
                       "sessions in the weeks of %(w0)s and %(w1)s, against a plan of %(plan_students)s students and "
                       "%(plan_sessions)s sessions a week", name=alert.name, programme=e["programme"],
                       s0=e["students"][0], s1=e["students"][1], n0=e["sessions"][0], n1=e["sessions"][1],
                       w0=e["weeks"][0], w1=e["weeks"][1],
                       plan_students="-" if e["plan_students"] is None else e["plan_students"],
                       plan_sessions="-" if e["plan_sessions"] is None else e["plan_sessions"])
    return gettext("%(name)s: skill %(skill)s (%(subject)s, grade %(grade)s) %(percent)s %% correct against "
                   "%(country)s %% in the country, %(students)d students, %(first)s to %(last)s", name=alert.name,
                   skill=e["skill"], subject=e["subject"], grade=e["grade"], percent=e["percent"],
                   country=e["country_percent"], students=e["students"], first=e["months"][0], last=e["months"][1])


def alert_titles() -> dict[str, str]:
    return {"silent": gettext("Silent schools"), "broken_sync": gettext("Broken sync"),
            "activity_stalled": gettext("Activity stalled while the district moves"),
            "mastery_stalled": gettext("Mastery stalled while the district moves"),
            "skill_far_below": gettext("Skills far below the country"),
            "behind_plan": gettext("Pilot schools falling behind their plan")}


@bp.get("/warnings")
def warnings_page():
    with database.reading() as source:
        found, computed_at = alerts.from_snapshot(operators.scope_of(g.operator))
    groups = [(kind, alert_titles()[kind], [alert_text(a) for a in found if a.kind == kind]) for kind in alerts.KINDS]
    return _page("ops/warnings.html", groups=groups, count=len(found), read_from=source,
                 computed_at=computed_at.replace(microsecond=0).isoformat() if computed_at else None)


@bp.get("/warnings.json")
def warnings_json():
    with database.reading():
        found, computed_at = alerts.from_snapshot(operators.scope_of(g.operator))
    return {"computed_at": operators._iso(computed_at), "warnings": [a.as_dict() for a in found]}


def digest(operator: Operator, today) -> str:
    """The operator's weekly digest as plain text, in their language (called inside a request context)."""
    scope = operators.scope_of(operator)
    found = alerts.for_scope(scope, today=today)
    groups = [(alert_titles()[kind], [alert_text(a) for a in found if a.kind == kind]) for kind in alerts.KINDS]
    return render_template("ops/digest.txt", operator=operator, week=alerts.week_numbers(scope, today),
                           groups=groups, count=len(found), level_names=level_names(),
                           hub_name=current_app.config["HUB_NAME"])


@bp.get("/pilot")
def pilot_page():
    """The pilot evaluation (GET: nothing changes, so no CSRF): pilot and comparison schools of one's scope."""
    if g.operator.level == "school":
        abort(403, description=gettext("a school director's account does not evaluate programmes"))
    args = request.args
    form = {name: args.get(name, "").strip() for name in ("pilot", "comparison", "start", "subject", "grade")}
    result = error = left_out = source = None
    if any(form.values()):
        with database.reading() as source:
            try:
                result, left_out = _evaluate(form)
            except (operators.OperatorError, evaluation.EvaluationError) as exc:
                error = error_text(exc) if isinstance(exc, operators.OperatorError) else evaluation_text(exc)
    return _page("ops/pilot.html", form=form, result=result, error=error, left_out=left_out, read_from=source)


def _evaluate(form: dict):
    import datetime
    pilot_ids, comparison_ids = (form[name].replace(",", " ").split() for name in ("pilot", "comparison"))
    try:
        start = datetime.datetime.strptime(form["start"], "%Y-%m").date()
        grade = int(form["grade"])
    except ValueError:
        raise operators.OperatorError("give the start as YYYY-MM and the grade as a whole number") from None
    visible = set(operators.visible_school_ids(operators.scope_of(g.operator)))
    for given in pilot_ids + comparison_ids:
        if operators.resolve_school(given) not in visible:
            raise operators.OperatorError("no enrolled school %(school)s", school=given)  # outside: as if unknown
    if set(pilot_ids) & set(comparison_ids):
        raise operators.OperatorError("a school cannot be both pilot and comparison")
    return pilot.evaluate(pilot_ids, comparison_ids, start, form["subject"], grade)


# --- pilot programmes kept on the hub (programmes.py) ------------------------------------------------------

PROGRAMME_FIELDS = ("name", "subjects", "grades", "start", "pilot", "comparison", "matching", "per_pilot", "outcome",
                    "before", "after", "baseline", "plan_students", "plan_sessions")


def _whole(form: dict, name: str, message: str, default: int | None = None) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise operators.OperatorError(message)
    return int(raw)


def _create_programme(form: dict):
    import datetime
    try:
        start = datetime.date.fromisoformat(form.get("start", "").strip())
    except ValueError:
        raise operators.OperatorError("give the start as a date, YYYY-MM-DD") from None
    grades = [g for g in form.get("grades", "").replace(",", " ").split()]
    if not all(g.isdigit() for g in grades):
        raise operators.OperatorError("give at least one grade, each a whole number from 0 to 12")
    matched = form.get("matching") == "matched"
    return programmes.create(
        g.operator, name=form.get("name", ""), subjects=form.get("subjects", "").split(","),
        grades=[int(x) for x in grades], start=start,
        pilot_schools=form.get("pilot", "").replace(",", " ").split(),
        comparison_schools=[] if matched else form.get("comparison", "").replace(",", " ").split(),
        match_per_pilot=(_whole(form, "per_pilot", "comparison schools per pilot school is a whole number from 1 "
                                                   "to 5", 1) if matched else 0),
        outcome=form.get("outcome", "mastery"),
        baseline_months=_whole(form, "baseline", "the baseline is 1 to 24 months", 3),
        diagnostic_before=form.get("before", "").strip() or None, diagnostic_after=form.get("after", "").strip() or None,
        plan=programmes.Plan(_whole(form, "plan_students", "a plan is a whole number from 0 to 100000 per school and "
                                                           "week"),
                             _whole(form, "plan_sessions", "a plan is a whole number from 0 to 100000 per school "
                                                           "and week")))


@bp.route("/programmes", methods=["GET", "POST"])
def programmes_page():
    if g.operator.level == "school":
        abort(403, description=gettext("a school director's account does not evaluate programmes"))
    form = {name: request.form.get(name, "") for name in PROGRAMME_FIELDS}
    error, status = None, 200
    if request.method == "POST":
        g.audit_action = "programme_create"
        g.audit_detail = {"name": form["name"][:200]}
        per_pilot = form["per_pilot"].strip()
        try:
            if form["matching"] == "matched" and per_pilot and (not per_pilot.isdigit()
                                                                or not 1 <= int(per_pilot) <= 5):
                raise operators.OperatorError("comparison schools per pilot school is a whole number from 1 to 5")
            made = _create_programme(form)
        except operators.OperatorError as exc:
            error, status = error_text(exc), 400
        else:
            g.audit_detail["programme"] = made.id
            return redirect(url_for("ops.programme_page", programme_id=made.id), 303)
    listed = [(p, programmes.schools(p)) for p in programmes.visible(operators.scope_of(g.operator))]
    diagnostics = list(programmes.NationalAssignment.select().order_by(
        programmes.NationalAssignment.created_at.desc()).limit(200))
    return _page("ops/programmes.html", listed=listed, form=form, error=error, diagnostics=diagnostics), status


def _programme_or_404(programme_id: str):
    found = programmes.get(operators.scope_of(g.operator), programme_id)
    if found is None:
        abort(404, description=gettext("no such programme in your scope"))
    return found


def _programme_result(programme) -> tuple[dict | None, str | None]:
    try:
        result, left_out = programmes.evaluate(programme)
    except evaluation.EvaluationError as exc:
        return None, evaluation_text(exc)
    return {"estimate": result, "left_out": left_out}, None


@bp.get("/programmes/<programme_id>")
def programme_page(programme_id: str):
    if g.operator.level == "school":
        abort(403, description=gettext("a school director's account does not evaluate programmes"))
    programme = _programme_or_404(programme_id)
    pilots, comparisons = programmes.schools(programme)
    with database.reading() as source:  # the estimate reads only aggregates and records: a replica will do
        result, error = _programme_result(programme)
        plan = programmes.plan_table(programme)
        names = dict(programmes.School.select(programmes.School.id, programmes.School.name).where(
            programmes.School.id.in_(pilots + comparisons)).tuples())
    return _page("ops/programme.html", programme=programme, pilots=pilots, comparisons=comparisons, names=names,
                 result=result, error=error, plan=plan, read_from=source)


@bp.get("/programmes/<programme_id>.json")
def programme_json(programme_id: str):
    if g.operator.level == "school":
        abort(403, description=gettext("a school director's account does not evaluate programmes"))
    programme = _programme_or_404(programme_id)
    import dataclasses
    with database.reading() as source:
        result, error = _programme_result(programme)
    body = programmes.as_dict(programme)
    if result is not None:
        estimate = result["estimate"]
        body["estimate"] = {**dataclasses.asdict(estimate), "sentence": estimate.sentence(),
                            "significant": estimate.significant, "left_out": result["left_out"]}
    else:
        body["estimate"], body["error"] = None, error
    body["read_from"] = source["database"]
    return body


@bp.route("/account", methods=["GET", "POST"])
def account():
    """The operator's own e-mail address and the weekly digest by mail."""
    error = done = None
    status = 200
    email, digest_on = g.operator.email or "", bool(g.operator.digest_email)
    if request.method == "POST":
        g.audit_action = "account_email"
        email, digest_on = request.form.get("email", "").strip(), request.form.get("digest") == "yes"
        g.audit_detail = {"digest": digest_on}
        try:
            operators.set_email(g.operator.username, email, digest_on)
            done = True
        except operators.OperatorError as exc:
            error, status = error_text(exc), 400
    mail_on = bool(current_app.config["HUB_SETTINGS"].mail_host)
    return _page("ops/account.html", email=email, digest_on=digest_on, error=error, done=done,
                 mail_on=mail_on), status
