"""`classroom-hub`: the national platform's reference service and its admin commands."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from sync import __version__

from .settings import DATA_DIR_ENV, HubSettings, SettingsError, load_settings, render_ini

log = logging.getLogger(__name__)


class Context:
    def __init__(self, data_dir: str | None):
        self.data_dir = data_dir

    def settings(self, **overrides) -> HubSettings:
        try:
            settings = load_settings(self.data_dir)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        return settings.replace(**{k: v for k, v in overrides.items() if v is not None})

    def database(self, settings: HubSettings | None = None, migrate: bool = False):
        """Open the hub's database; unless migrating, insist that `init` brought it up to date."""
        from peewee import PeeweeException

        from . import migrations, partitions
        from .db import DatabaseError, database, open_database, open_read_database
        settings = settings or self.settings()
        if settings.database_url == "":
            _check_writable(settings.data_dir)
        try:
            db = open_database(settings.effective_database_url, max_connections=settings.server_threads + 4)
            if settings.database_read_url:
                open_read_database(settings.database_read_url, max_lag=settings.database_read_max_lag)
            database.connect(reuse_if_open=True)
            if migrate:
                for name in migrations.migrate(db):
                    click.echo(f"applied migration {name}", err=True)
            elif migrations.pending(db) or partitions.legacy_pending(db):
                raise click.ClickException(f"the hub database at {_shown(settings.effective_database_url)} is "
                                           f"not set up or out of date: run `classroom-hub init` first")
        except (DatabaseError, migrations.MigrationError) as exc:
            raise click.ClickException(str(exc)) from None
        except PeeweeException as exc:  # the driver's own errors: a server down, a wrong password, ...
            raise click.ClickException(f"cannot use the hub database at "
                                       f"{_shown(settings.effective_database_url)}: {exc}".strip()) from None
        return db


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return url


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create the data folder {folder}: {exc.strerror}. Choose another "
                                   f"with --data-dir or {DATA_DIR_ENV}, or fix its permissions.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.ClickException(f"the data folder {folder} is not writable by this user: fix its "
                                   f"permissions or choose another with --data-dir")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="classroom-hub")
@click.option("--data-dir", envvar=DATA_DIR_ENV, type=click.Path(file_okay=False),
              help=f"The hub's folder (settings, and the SQLite file for a local try). [env: {DATA_DIR_ENV}]")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, verbose: bool) -> None:
    """The national platform's reference service: enrols schools and receives their learning records."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(data_dir)


@main.command()
@click.pass_obj
def init(obj: Context) -> None:
    """Create or update the hub's tables (and write a commented classroom-hub.ini if there is none)."""
    settings = obj.settings()
    _check_writable(settings.data_dir)
    if not settings.ini_path.exists():
        settings.ini_path.write_text(render_ini(), encoding="utf-8")
        click.echo(f"wrote {settings.ini_path}")
    db = obj.database(settings, migrate=True)
    _move_and_partition(db, settings)
    if not settings.database_url:
        click.echo("note: this hub uses a SQLite file, for a quick local try only; set [database] url "
                   "(or CLASSROOM_HUB_DATABASE_URL) to a PostgreSQL server for real use", err=True)
    click.echo(f"hub database ready: {_shown(settings.effective_database_url)}")


def _move_and_partition(db, settings: HubSettings) -> None:
    """Move an older hub's records into the partitioned table (resumable), then make partitions ahead."""
    from . import partitions
    if partitions.legacy_pending(db):
        click.echo("moving the records into the partitioned table (if stopped, run init again: it goes on "
                   "where it stopped)", err=True)
        with click.progressbar(length=1, label="moving records", file=sys.stderr) as bar:
            def shown(moved: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(moved - bar.pos)
            try:
                moved = partitions.move_legacy(db, progress=shown)
            except partitions.PartitionError as exc:
                raise click.ClickException(str(exc)) from None
        click.echo(f"moved {moved} record(s) into the partitioned table", err=True)
    for name in partitions.ensure_ahead(settings.records_months_ahead, db=db):
        click.echo(f"made partition {name}", err=True)


@main.group()
def config() -> None:
    """Write or show the settings."""


@config.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing settings file.")
@click.pass_obj
def config_init(obj: Context, force: bool) -> None:
    """Write a commented classroom-hub.ini with every setting and its default."""
    settings = obj.settings()
    if settings.ini_path.exists() and not force:
        raise click.ClickException(f"{settings.ini_path} exists; pass --force to overwrite it")
    _check_writable(settings.data_dir)
    settings.ini_path.write_text(render_ini(), encoding="utf-8")
    click.echo(f"wrote {settings.ini_path}")


@config.command("show")
@click.pass_obj
def config_show(obj: Context) -> None:
    """Print the settings in force (file, variables and defaults combined; the LRS password hidden)."""
    click.echo(render_ini(obj.settings()), nl=False)


@main.command()
@click.option("--host", help="Address to listen on [setting server.host].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port; 0 picks a free one [setting server.port].")
@click.option("--threads", type=click.IntRange(1, 256), help="Worker threads [setting server.threads].")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, threads: int | None) -> None:
    """Serve the sync API (waitress). Put a TLS reverse proxy in front of it."""
    from waitress import create_server

    from sync import protocol

    from . import partitions
    from .app import create_app
    settings = obj.settings(server_host=host, server_port=port, server_threads=threads)
    db = obj.database(settings)
    partitions.ensure_ahead(settings.records_months_ahead, db=db)
    db.close()
    app = create_app(settings)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = create_server(app, host=settings.server_host, port=settings.server_port,
                           threads=settings.server_threads, ident="classroom-hub",
                           max_request_body_size=protocol.MAX_BODY_BYTES + 1024)
    shown = "127.0.0.1" if settings.server_host in ("0.0.0.0", "::", "") else settings.server_host
    url = f"http://{shown}:{server.effective_port}/"
    # Scripts read the port from either stream: stdout has the bare line, stderr the usual banner.
    click.echo(f"Serving on {url}")
    sys.stdout.flush()
    click.echo(f"Serving on {url}  (hub: {settings.hub_name}, database: "
               f"{_shown(settings.effective_database_url)})", err=True)
    sys.stderr.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.close()


@main.group()
def school() -> None:
    """Enrol, list and revoke schools."""


@school.command("add")
@click.argument("name")
@click.option("--region", help="The school's region (for reports).")
@click.option("--secret-file", type=click.Path(dir_okay=False, writable=True),
              help="Write the secret to this new file (mode 0600) instead of printing it.")
@click.option("--json", "as_json", is_flag=True, help="Print {school_id, secret} as JSON.")
@click.pass_obj
def school_add(obj: Context, name: str, region: str | None, secret_file: str | None, as_json: bool) -> None:
    """Enrol a school: prints its id, and its secret ONCE (the school's agent needs both)."""
    from . import services
    obj.database()
    if secret_file and os.path.exists(secret_file):
        raise click.ClickException(f"{secret_file} exists: choose a new file for the secret")
    try:
        enrolled, secret = services.enrol_school(name, region)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if secret_file:
        descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
    if as_json:
        click.echo(json.dumps({"school_id": enrolled.id, "name": enrolled.name, "region": enrolled.region,
                               "secret": None if secret_file else secret}))
        return
    click.echo(f"school_id: {enrolled.id}")
    if secret_file:
        click.echo(f"secret written to {secret_file}")
    else:
        click.echo(f"secret: {secret}")
    click.echo("The secret is shown this once. Give it to the school over a trusted channel, with the national "
               "key's fingerprint (`classroom-hub keys show --fingerprint`); on the school server run: "
               f"classroom-sync enroll --hub URL --school-id {enrolled.id} --secret-file FILE --national-key "
               f"FINGERPRINT", err=True)


@school.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def school_list(obj: Context, as_json: bool) -> None:
    """List enrolled schools (never their secrets)."""
    from . import services
    obj.database()
    rows = services.report()
    if as_json:
        click.echo(json.dumps([{k: r[k] for k in ("school_id", "name", "region", "status", "enrolled_at",
                                                  "revoked_at")} for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no schools enrolled yet: add one with `classroom-hub school add NAME`")
    for r in rows:
        click.echo(f"{r['school_id']:<12} {r['status']:<8} {r['region'] or '-':<16} {r['name']}")


@school.command("revoke")
@click.argument("school_id")
@click.pass_obj
def school_revoke(obj: Context, school_id: str) -> None:
    """Refuse a school's requests from now on (its records stay)."""
    from . import services
    obj.database()
    try:
        revoked = services.revoke_school(school_id)
    except services.UnknownSchool:
        raise click.ClickException(f"no school {school_id!r}: see `classroom-hub school list`") from None
    click.echo(f"revoked {revoked.id} ({revoked.name}); to let it sync again, enrol it anew with "
               f"`classroom-hub school add`")


@main.group()
def roster() -> None:
    """National rosters: enrol students and teachers centrally (docs/rosters.md)."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--school", "school_id", required=True, help="The school these people belong to.")
@click.pass_obj
def roster_import(obj: Context, file: str, school_id: str) -> None:
    """Add or update people from a CSV file (national_id, name, role, class, grade[, active]); the file is
    checked whole and nothing is stored if any line is wrong."""
    from . import roster as rosters
    from . import services
    obj.database()
    try:
        people = rosters.parse_roster_csv(Path(file).read_bytes())
        summary = rosters.import_roster(school_id, people)
    except rosters.RosterImportError as exc:
        for line, problem in exc.problems:
            click.echo(f"{file}:{line}: {problem}" if line else f"{file}: {problem}", err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s) in {file}; nothing was imported: fix the "
                                   f"lines above and import the whole file again") from None
    except services.UnknownSchool:
        raise click.ClickException(f"no school {school_id!r}: see `classroom-hub school list`") from None
    click.echo(f"school {school_id}: {summary.added} added, {summary.changed} changed, {summary.unchanged} "
               f"unchanged" + (f" ({summary.moved_from_other_school} moved from another school)"
                               if summary.moved_from_other_school else ""))


@roster.command("list")
@click.option("--school", "school_id", required=True, help="The school.")
@click.option("--reported", is_flag=True, help="Show the roster the school last reported instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def roster_list(obj: Context, school_id: str, reported: bool, as_json: bool) -> None:
    """The national people of a school (or, with --reported, what the school says it has)."""
    from . import roster as rosters
    obj.database()
    if reported:
        rows = rosters.reported(school_id)
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for r in rows:
            classes = ", ".join(c["name"] for c in r["classes"]) or "-"
            click.echo(f"{r.get('national_id') or 'local ' + r['pseudonym']:<40} {r['role']:<8} "
                       f"{'active' if r['active'] else 'inactive':<8} {classes}")
    else:
        rows = [rosters.person_state(p) for p in rosters.people(school_id)]
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for r in rows:
            click.echo(f"{r['national_id']:<20} {r['role']:<8} {r['class'] or '-':<10} "
                       f"{'active' if r['active'] else 'inactive':<8} {r['name']}")
    summary = rosters.roster_summary(school_id)
    click.echo(f"{len(rows)} people; feed at {summary['feed_last']}, the school asked after "
               f"{summary['school_pulled_after']}, last report {summary['reported_at'] or 'never'}", err=True)


@roster.command("deactivate")
@click.argument("national_id")
@click.option("--undo", is_flag=True, help="Make the person active again.")
@click.pass_obj
def roster_deactivate(obj: Context, national_id: str, undo: bool) -> None:
    """Deactivate a person nationally: their school deactivates the account and keeps their records."""
    from . import roster as rosters
    obj.database()
    try:
        person = rosters.set_active(national_id, undo)
    except LookupError:
        raise click.ClickException(f"no person {national_id!r}: see `classroom-hub roster list`") from None
    click.echo(f"{person.national_id} ({person.display_name}) is {'active' if person.active else 'inactive'}")


@main.group()
def assignment() -> None:
    """National assignments: work sent to every class of a grade (docs/rosters.md)."""


def _utc_option(value: str | None, name: str):
    if not value:
        return None
    from . import roster as rosters
    try:
        return rosters.parse_time(value if "T" in value else value + "T23:59:59")
    except ValueError:
        raise click.UsageError(f"{name} must be a date or time like 2026-05-20 or 2026-05-20T09:00 (UTC)") from None


@assignment.command("send")
@click.option("--title", required=True)
@click.option("--pack", "pack_id", required=True, help="The content pack id.")
@click.option("--node", "nodes", required=True, multiple=True, help="A node of the pack (repeat for more parts).")
@click.option("--item", "items", multiple=True, help="One item of the node (quizzes; repeat; one --node only).")
@click.option("--grade", required=True, type=click.IntRange(0, 12), help="Every class of this grade gets it.")
@click.option("--region", help="Only the schools of this region.")
@click.option("--school", "school_ids", multiple=True, help="Only this school (repeat for more).")
@click.option("--start", help="Students see it from this UTC date/time.")
@click.option("--due", help="Due at this UTC date/time (a date alone: its end).")
@click.option("--quiz", is_flag=True, help="A quiz rather than work.")
@click.option("--time-limit", type=int, help="Quizzes: minutes.")
@click.option("--attempts", type=int, default=1, show_default=True, help="Quizzes: tries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def assignment_send(obj: Context, title: str, pack_id: str, nodes: tuple[str, ...], items: tuple[str, ...],
                    grade: int, region: str | None, school_ids: tuple[str, ...], start: str | None,
                    due: str | None, quiz: bool, time_limit: int | None, attempts: int, as_json: bool) -> None:
    """Send work (or a quiz) to every class of a grade, in all schools, a region, or named schools."""
    from . import roster as rosters
    obj.database()
    if items and len(nodes) != 1:
        raise click.UsageError("--item needs exactly one --node (the exercise the items are in)")
    parts = ([{"pack_id": pack_id, "node_id": nodes[0], "item_id": item} for item in items] if items
             else [{"pack_id": pack_id, "node_id": node, "item_id": None} for node in nodes])
    try:
        sent = rosters.send_assignment(title, grade, parts, kind="quiz" if quiz else "work", region=region,
                                       school_ids=list(school_ids), starts_at=_utc_option(start, "--start"),
                                       due_at=_utc_option(due, "--due"), time_limit_minutes=time_limit,
                                       attempts=attempts)
    except rosters.AssignmentProblem as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rosters.assignment_state(sent) | {"schools": sent.schools}, ensure_ascii=False))
        return
    click.echo(f"sent {sent.id} to grade {grade} in {len(sent.schools)} school(s): {', '.join(sent.schools)}")


@assignment.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def assignment_list(obj: Context, as_json: bool) -> None:
    """National assignments, oldest first."""
    from . import roster as rosters
    obj.database()
    rows = [rosters.assignment_state(a) | {"schools": a.schools} for a in rosters.assignments()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no national assignments yet: send one with `classroom-hub assignment send`")
    for r in rows:
        click.echo(f"{r['id']}  grade {r['grade']:<2} {r['kind']:<4} {len(r['schools'])} school(s)"
                   f"{'  [withdrawn]' if r['withdrawn'] else ''}  {r['title']}")


@assignment.command("withdraw")
@click.argument("assignment_id")
@click.pass_obj
def assignment_withdraw(obj: Context, assignment_id: str) -> None:
    """Withdraw sent work: schools close it; results already made stay."""
    from . import roster as rosters
    obj.database()
    try:
        withdrawn = rosters.withdraw_assignment(assignment_id)
    except rosters.AssignmentProblem as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"withdrew {withdrawn.id} ({withdrawn.title}) from {len(withdrawn.schools)} school(s)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per school).")
@click.pass_obj
def report(obj: Context, as_json: bool) -> None:
    """Per school: records received, acked cursor, last contact, agent version, forwarding."""
    from . import services
    from .db import database
    obj.database()
    with database.reading() as source:
        rows = services.report()
    if source["note"]:
        click.echo(f"note: {source['note']}", err=True)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'school':<12} {'records':>10} {'acked':>10} {'forwarded':>10}  {'last contact':<21} agent")
    for r in rows:
        click.echo(f"{r['school_id']:<12} {r['records_received']:>10} {r['acked']:>10} {r['forwarded']:>10}  "
                   f"{r['last_contact'] or 'never':<21} {r['agent_version'] or '-'}"
                   + (f"  [{r['status']}]" if r["status"] != "active" else "")
                   + (f"  forward error: {r['forward_error']}" if r["forward_error"] else ""))


@main.command()
@click.option("--loop", is_flag=True, help="Keep forwarding: a pass every [forward] interval seconds.")
@click.pass_obj
def forward(obj: Context, loop: bool) -> None:
    """Forward received records as xAPI statements to the external LRS ([forward] url)."""
    from . import forward as forwarding
    settings = obj.settings()
    if not settings.forward_url:
        raise click.ClickException("no LRS is set: set [forward] url (CLASSROOM_HUB_FORWARD_URL) to the LRS's "
                                   "xAPI endpoint, and its username and password")
    obj.database(settings)
    try:
        if loop:
            forwarding.run_forever(settings)
            return
        result = forwarding.forward_pass(settings)
    except forwarding.ForwardLocked as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        return
    click.echo(f"forwarded {result.sent} statement(s) from {result.schools} school(s)"
               + (f"; {len(result.errors)} school(s) failed:" if result.errors else ""))
    for school_id, error in result.errors.items():
        click.echo(f"  {school_id}: {error}", err=True)
    if result.errors:
        sys.exit(1)


@main.group("partitions")
def partitions_group() -> None:
    """PostgreSQL: the record table's monthly partitions, made ahead and archived when old."""


def _partitioned(obj: Context) -> HubSettings:
    from . import partitions
    settings = obj.settings()
    db = obj.database(settings)
    if not partitions.is_partitioned(db):
        raise click.ClickException("this hub keeps its records in a SQLite file, which has no partitions: set "
                                   "[database] url to a PostgreSQL server for that")
    return settings


@partitions_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def partitions_list(obj: Context, as_json: bool) -> None:
    """The months held in the database (rows estimated by PostgreSQL) and those archived to files."""
    from . import partitions
    from .models import RecordArchive
    _partitioned(obj)
    held = [{"partition": p.name, "from": p.starts.date().isoformat(), "to": p.ends.date().isoformat(),
             "rows_estimated": p.rows} for p in partitions.partitions()]
    archived = [{"partition": a.partition, "from": a.starts.date().isoformat(), "to": a.ends.date().isoformat(),
                 "rows": a.rows, "path": a.path, "sha256": a.sha256, "archived_at": a.archived_at.isoformat() + "Z"}
                for a in RecordArchive.select().order_by(RecordArchive.starts)]
    if as_json:
        click.echo(json.dumps({"partitions": held, "archived": archived}, indent=2))
        return
    for a in archived:
        click.echo(f"{a['partition']:<18} {a['from']} .. {a['to']}  archived   {a['rows']:>12} rows  {a['path']}")
    for p in held:
        rows = "?" if p["rows_estimated"] < 0 else f"~{p['rows_estimated']}"
        click.echo(f"{p['partition']:<18} {p['from']} .. {p['to']}  in database {rows:>11} rows")


@partitions_group.command("ensure")
@click.pass_obj
def partitions_ensure(obj: Context) -> None:
    """Make this month's partition and the next [records] months_ahead (run daily by a timer)."""
    from . import partitions
    settings = _partitioned(obj)
    made = partitions.ensure_ahead(settings.records_months_ahead)
    click.echo(f"made {', '.join(made)}" if made else "every partition is made already")


@partitions_group.command("archive")
@click.option("--dry-run", is_flag=True, help="Only say which months would be archived.")
@click.pass_obj
def partitions_archive(obj: Context, dry_run: bool) -> None:
    """Export months older than [records] retention_months to gzip JSON lines, check each file, then drop
    the month from the database (the dashboard's counts stay)."""
    from . import partitions
    settings = _partitioned(obj)
    if settings.records_retention_months == 0:
        click.echo("[records] retention_months is 0: every record is kept; nothing to archive")
        return
    due = partitions.due_for_archive(settings.records_retention_months)
    if not due:
        click.echo(f"no month is older than {settings.records_retention_months} month(s): nothing to archive")
        return
    for partition in due:
        if dry_run:
            click.echo(f"would archive {partition.name} to {partitions.archive_path(settings.archive_folder, partition.name)}")
            continue
        try:
            with click.progressbar(length=max(partition.rows, 1), label=f"exporting {partition.name}",
                                   file=sys.stderr) as bar:
                done = partitions.archive(partition, settings.archive_folder, progress=bar.update)
        except partitions.PartitionError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"archived {done.partition}: {done.rows} record(s) in {done.path} ({_size(done.bytes)}, "
                   f"sha256 {done.sha256}); dropped from the database")


@main.group()
def keys() -> None:
    """The national key that signs every published pack."""


@keys.command("generate")
@click.option("--force", is_flag=True, help="Replace an existing signing key.")
@click.option("--forget-old", is_flag=True,
              help="With --force: stop publishing the replaced key (e.g. it leaked); schools then refuse "
                   "packs it signed.")
@click.pass_obj
def keys_generate(obj: Context, force: bool, forget_old: bool) -> None:
    """Make the national Ed25519 signing key (kept in the data folder, mode 0600); print its public key."""
    from content_packs import signing

    from . import content
    settings = obj.settings()
    _check_writable(settings.data_dir)
    try:
        public, old = content.generate_key(settings.data_dir, force=force, keep_old=not forget_old)
    except content.ContentError as exc:
        raise click.ClickException(f"{exc}. To replace the key so that schools follow, use `classroom-hub keys "
                                   f"rotate` (the old key signs the hand-over); --force makes a key schools "
                                   f"trust only once enrolled again with its fingerprint") from None
    click.echo(public)
    click.echo(f"signing key written to {content.key_path(settings.data_dir)} (mode 0600): keep it secret and "
               f"back it up. Its fingerprint, to hand out with each school's secret (`classroom-sync enroll "
               f"--national-key`): {signing.fingerprint(public)}", err=True)
    if old:
        click.echo(f"schools enrolled before do NOT trust the new key: nothing signed the hand-over (that is what "
                   f"`classroom-hub keys rotate` does). Each school must pin it: `classroom-sync keys pin "
                   f"'{signing.fingerprint(public)}'`", err=True)
        if not forget_old:
            content.vouch_for_replaced(settings.data_dir)  # schools pinned to the new key keep the old packs
    if old:
        if forget_old:
            click.echo(f"replaced key {old} is no longer published: schools that fetch the keys again will "
                       f"refuse packs it signed; publish those packs again under new versions", err=True)
        else:
            click.echo(f"replaced key {old} stays in GET /api/v1/keys, so packs it signed keep installing; "
                       f"new packs are signed with the new key", err=True)


@keys.command("show")
@click.option("--fingerprint", "only_fingerprint", is_flag=True,
              help="Print only the current key's fingerprint (what schools enrol with).")
@click.pass_obj
def keys_show(obj: Context, only_fingerprint: bool) -> None:
    """Print the public keys schools are told to trust (the current signing key first), each with the
    fingerprint a school enrols with (`classroom-sync enroll --national-key`)."""
    from content_packs import signing

    from . import content
    settings = obj.settings()
    try:
        current = content.current_public_key(settings.data_dir)
        retired = content.retired_keys(settings.data_dir)
    except content.ContentError as exc:
        raise click.ClickException(str(exc)) from None
    if current is None and not retired:
        raise click.ClickException("the hub has no national signing key yet: make one with "
                                   "`classroom-hub keys generate`")
    if only_fingerprint:
        if current is None:
            raise click.ClickException("the hub has no current signing key: make one with `classroom-hub keys "
                                       "generate`")
        click.echo(signing.fingerprint(current))
        return
    if current:
        click.echo(f"{current}  current (signs new packs)")
        click.echo(f"  fingerprint {signing.fingerprint(current)}")
    for key in retired:
        if key != current:
            click.echo(f"{key}  replaced (still trusted for packs it signed)")
            click.echo(f"  fingerprint {signing.fingerprint(key)}")


@keys.command("rotate")
@click.pass_obj
def keys_rotate(obj: Context) -> None:
    """Replace the national signing key so that schools follow: the old key signs a rotation statement
    for the new one (published with the keys), and stays published for the packs it signed."""
    from content_packs import signing

    from . import content
    settings = obj.settings()
    _check_writable(settings.data_dir)
    try:
        public, old = content.rotate_key(settings.data_dir)
    except content.ContentError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(public)
    click.echo(f"new signing key written to {content.key_path(settings.data_dir)} (mode 0600); fingerprint "
               f"{signing.fingerprint(public)}. The replaced key {signing.fingerprint(old)} signed the "
               f"hand-over: schools trust the new key at their next content sync; hand out the new "
               f"fingerprint to schools enrolled from now on", err=True)


@keys.command("vouch")
@click.pass_obj
def keys_vouch(obj: Context) -> None:
    """Have the current key vouch for the replaced keys it is not linked to yet (replaced with `keys generate
    --force`, or before `keys rotate` existed): schools enrolled with the current key's fingerprint then
    still install the packs those signed. Schools trusting only an old key gain nothing from it."""
    from content_packs import signing

    from . import content
    settings = obj.settings()
    _check_writable(settings.data_dir)
    try:
        vouched = content.vouch_for_replaced(settings.data_dir)
    except content.ContentError as exc:
        raise click.ClickException(str(exc)) from None
    for key in vouched:
        click.echo(f"vouched for {key}  (fingerprint {signing.fingerprint(key)})")
    if not vouched:
        click.echo("every replaced key is linked to the current one already; nothing to do")


@main.group()
def pack() -> None:
    """Publish reviewed content packs to schools, list and withdraw them."""


BIG_PACK_BYTES = 16 * 1024 * 1024  # smaller packs are checked and stored in a blink: no progress bar


@pack.command("publish")
@click.argument("file", type=click.Path(exists=True))
@click.option("--all-schools", is_flag=True, help="Every enrolled school gets the pack.")
@click.option("--region", "regions", multiple=True, help="The schools of this region get it (repeatable).")
@click.option("--school", "schools", multiple=True, help="This school id gets it (repeatable).")
@click.pass_obj
def pack_publish(obj: Context, file: str, all_schools: bool, regions: tuple[str, ...],
                 schools: tuple[str, ...]) -> None:
    """Check a reviewed pack, sign it with the national key and list it for the chosen schools.

    Publishing the same content again changes nothing but, if given, who gets it.
    """
    from . import content
    settings = obj.settings()
    obj.database(settings)
    targeting = content.Targeting(all_schools, regions, schools)
    try:
        source, _raw, manifest = content.check_pack(file)  # refuse a bad pack before any progress bar
        source.close()
        if manifest.total_size < BIG_PACK_BYTES:
            published = content.publish(settings.data_dir, file, targeting)
        else:
            with click.progressbar(length=manifest.total_size, label=f"checking and storing {manifest.id}",
                                   file=sys.stderr) as bar:
                published = content.publish(settings.data_dir, file, targeting, progress=bar.update)
    except content.ContentError as exc:
        raise click.ClickException(str(exc)) from None
    row = published.row
    target = content.targeting_of(row).describe()
    if published.created:
        click.echo(f"published {row.pack_id} {row.version} to {target}: {_size(row.size)}, "
                   f"{published.blobs_written} new blob(s)")
    elif published.retargeted:
        click.echo(f"{row.pack_id} {row.version} was published already with this content; it now goes to {target}")
    else:
        click.echo(f"{row.pack_id} {row.version} is published already with this content (to {target}); nothing "
                   f"changed")
    for region in content.targeting_of(row).regions:
        if not _region_has_schools(region):
            click.echo(f"note: no enrolled school is in region {region!r} yet", err=True)


def _region_has_schools(region: str) -> bool:
    from .models import School
    return School.select().where(School.region == region).exists()


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return str(count)


@pack.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def pack_list(obj: Context, as_json: bool) -> None:
    """Every published pack version: who gets it, when published or withdrawn, its size."""
    from . import content
    obj.database()
    rows = content.releases()
    if as_json:
        click.echo(json.dumps([{"id": r.pack_id, "version": r.version,
                                "target": content.targeting_of(r).as_dict(),
                                "published_at": content._iso(r.published_at),
                                "withdrawn_at": content._iso(r.withdrawn_at), "size": r.size,
                                "manifest_sha256": r.manifest_sha256} for r in rows],
                              ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no packs published yet: publish one with `classroom-hub pack publish FILE --all-schools`")
        return
    click.echo(f"{'id':<32} {'version':<10} {'target':<24} {'published':<21} {'withdrawn':<21} {'size':>10}")
    for r in rows:
        click.echo(f"{r.pack_id:<32} {r.version:<10} {content.targeting_of(r).describe():<24} "
                   f"{content._iso(r.published_at):<21} {content._iso(r.withdrawn_at) or '-':<21} "
                   f"{_size(r.size):>10}")


@pack.command("withdraw")
@click.argument("pack_id")
@click.option("--version", help="Withdraw only this version (default: every version of the pack).")
@click.pass_obj
def pack_withdraw(obj: Context, pack_id: str, version: str | None) -> None:
    """Withdraw a pack: schools remove it (or go back to its newest version still published)."""
    from . import content
    obj.database()
    try:
        changed = content.withdraw(pack_id, version)
    except content.ContentError as exc:
        raise click.ClickException(str(exc)) from None
    if not changed:
        click.echo(f"{pack_id} {version or ''} was withdrawn already; nothing changed".replace("  ", " "))
        return
    for row in changed:
        click.echo(f"withdrew {row.pack_id} {row.version}")


@main.group()
def certificates() -> None:
    """HTTPS certificates for schools, by ACME DNS-01 ([acme] settings, docs/https.md)."""


@certificates.command("issue")
@click.option("--loop", is_flag=True, help="Keep going: a pass every [acme] interval seconds.")
@click.pass_obj
def certificates_issue(obj: Context, loop: bool) -> None:
    """Order every certificate that is due: a first one for each school's CSR, and a renewal once a
    third of a certificate's lifetime is left. Run it from a timer (daily is plenty) or with --loop."""
    import time

    from peewee import PeeweeException

    from . import certificates as certs
    from .db import database
    settings = obj.settings()
    if not certs.offered(settings):
        raise click.ClickException("this hub offers no certificates: set [acme] directory_url and [acme] domain "
                                   "(docs/https.md)")
    obj.database(settings)
    while True:
        try:
            result = certs.issue_pass(settings, say=click.echo)
        except certs.CertificateError as exc:
            if not loop:
                raise click.ClickException(str(exc)) from None
            log.error("certificates: %s", exc)
            result = None
        except PeeweeException as exc:
            if not loop:
                raise click.ClickException(f"the hub database is unavailable: {exc}") from None
            log.error("certificates: the hub database is unavailable: %s", exc)
            result = None
        if result is not None:
            click.echo(f"certificates: {len(result.issued)} issued, {len(result.failed)} failed, "
                       f"{len(result.waiting)} waiting to retry, {result.current} current")
        if not loop:
            if result is not None and result.failed:
                sys.exit(1)
            return
        if not database.is_closed():
            database.close()
        try:
            time.sleep(settings.acme_interval)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
            return


@certificates.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def certificates_list(obj: Context, as_json: bool) -> None:
    """Each school's certificate: names, expiry, when it renews, and the last error."""
    from . import certificates as certs
    obj.database()
    rows = certs.listing()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no school has asked for a certificate yet (their agent does at its next sync once [acme] is set)")
    for r in rows:
        state = (f"valid until {r['not_after']}, renews from {r['renew_at']}" if r["current_key"]
                 else "waiting for the next pass")
        click.echo(f"{r['school_id']:<12} {', '.join(r['names'])}: {state}"
                   + (f"; last error: {r['error']}" if r["error"] else ""))


# --- operators and the school register (docs/hub.md#operator-accounts) ---------------------------

@main.group()
def user() -> None:
    """Operator accounts: ministry, region, district and school (director, read-only)."""


def _password(password_file: str | None) -> str:
    if password_file:
        with open(password_file, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user.command("create")
@click.argument("username")
@click.option("--level", type=click.Choice(["ministry", "region", "district", "school"]), required=True)
@click.option("--region", help="The region (oblast) of a region or district operator, as in the school register.")
@click.option("--district", help="The district of a district operator, as in the school register.")
@click.option("--school", help="A school director's school: its hub id or its register id.")
@click.option("--name", "display_name", help="The person's full name, shown on the pages.")
@click.option("--language", type=click.Choice(["kk", "ru", "en"]), help="The interface language.")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False),
              help="Read the password from the first line of this file (otherwise it is asked for).")
@click.pass_obj
def user_create(obj: Context, username: str, level: str, region: str | None, district: str | None,
                school: str | None, display_name: str | None, language: str | None,
                password_file: str | None) -> None:
    """Create an operator who signs in at /ops/ (the command line may create any level)."""
    from . import operators
    obj.database()
    try:
        made = operators.create_operator(username, _password(password_file), level, display_name=display_name,
                                         region=region, district=district, school=school, language=language)
    except operators.OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    operators.audit(None, "user_create", "cli", username=made.username, level=made.level, region=made.region,
                    district=made.district, school=made.school)
    click.echo(f"created {made.level} operator {made.username} ({operators.scope_of(made).describe()}); "
               f"they sign in at <hub>/ops/login")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def user_list(obj: Context, as_json: bool) -> None:
    """List operators (never their passwords)."""
    from .models import Operator
    obj.database()
    rows = [{"username": o.username, "name": o.display_name, "level": o.level, "region": o.region,
             "district": o.district, "school": o.school, "disabled": o.disabled_at is not None,
             "created_by": o.created_by} for o in Operator.select().order_by(Operator.level, Operator.username)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        place = " / ".join(p for p in (r["region"], r["district"], r["school"]) if p) or "-"
        click.echo(f"{r['username']:<24} {r['level']:<9} {place}" + ("  [disabled]" if r["disabled"] else ""))


@user.command("disable")
@click.argument("username")
@click.option("--undo", is_flag=True, help="Enable the account again.")
@click.pass_obj
def user_disable(obj: Context, username: str, undo: bool) -> None:
    """Disable an operator (signed out at once) or, with --undo, enable them again."""
    from . import operators
    obj.database()
    try:
        operators.disable_operator(username, undo)
    except operators.OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    operators.audit(None, "user_enable" if undo else "user_disable", "cli", username=username)
    click.echo(f"{username}: {'enabled' if undo else 'disabled'}")


@user.command("email")
@click.argument("username")
@click.option("--email", help="The operator's e-mail address (empty: none).")
@click.option("--digest/--no-digest", default=True, show_default=True,
              help="Mail them the weekly digest ([mail] settings, `classroom-hub digest --send`).")
@click.pass_obj
def user_email(obj: Context, username: str, email: str | None, digest: bool) -> None:
    """Set an operator's e-mail address and whether the weekly digest is mailed to them."""
    from . import operators
    obj.database()
    try:
        operators.set_email(username, email, digest)
    except operators.OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    operators.audit(None, "user_email", "cli", username=username, digest=digest)
    click.echo(f"{username}: {email or 'no address'}; weekly digest by e-mail {'on' if digest else 'off'}")


@user.command("password")
@click.argument("username")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def user_password(obj: Context, username: str, password_file: str | None) -> None:
    """Set an operator's new password (their sessions end)."""
    from . import operators
    obj.database()
    try:
        operators.set_password(username, _password(password_file))
    except operators.OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    operators.audit(None, "user_password", "cli", username=username)
    click.echo(f"{username}: new password set")


@main.group()
def register() -> None:
    """The national school register: each school's region, district and facts."""


@register.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def register_import(obj: Context, file: str) -> None:
    """Import the register from CSV (UTF-8 or Windows-1251; `,` or `;`): school_id, name, region, district,
    locality, rural_urban, language, students, and optionally hub_school_id."""
    from . import operators
    obj.database()
    try:
        summary = operators.import_register(Path(file).read_bytes())
    except operators.RegisterError as exc:
        raise click.ClickException(str(exc)) from None
    operators.audit(None, "register_import", "cli", file=os.path.basename(file), added=summary.added,
                    changed=summary.changed, linked=summary.linked)
    click.echo(f"{summary.added} added, {summary.changed} updated, {summary.linked} linked to enrolled schools")
    from . import analytics
    analytics.rebuild_areas()  # the districts' and regions' sums follow the register


@register.command("link")
@click.argument("register_id")
@click.argument("hub_school_id")
@click.pass_obj
def register_link(obj: Context, register_id: str, hub_school_id: str) -> None:
    """Say which enrolled school (hub id) a register school is."""
    from . import operators
    obj.database()
    try:
        operators.link_school(register_id, hub_school_id)
    except operators.OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    operators.audit(None, "register_link", "cli", register_id=register_id, school=hub_school_id)
    click.echo(f"register school {register_id} is hub school {hub_school_id}")
    from . import analytics
    analytics.rebuild_areas()


@main.group("analytics")
def analytics_group() -> None:
    """The learning analytics' aggregates (docs/hub.md#learning-analytics)."""


@analytics_group.command("refresh")
@click.option("--loop", is_flag=True, help="Keep refreshing: a pass every --every seconds.")
@click.option("--every", type=click.IntRange(10, 86400), default=300, show_default=True)
@click.pass_obj
def analytics_refresh(obj: Context, loop: bool, every: int) -> None:
    """Add the records received since the last pass to the aggregates the pages read."""
    import time

    from peewee import PeeweeException

    from . import alerts, analytics
    obj.database()
    while True:
        started = time.monotonic()
        try:
            count = analytics.refresh()
            found = alerts.save_snapshot()
        except PeeweeException as exc:  # the database went away: with --loop, try again next time
            if not loop:
                raise click.ClickException(f"the analytics could not be brought up to date: {exc}") from None
            log.warning("analytics refresh failed, trying again in %d s: %s", every, exc)
        else:
            click.echo(f"added {count} record(s) to the analytics and found {found} warning(s) in "
                       f"{time.monotonic() - started:.1f} s", err=loop)
        if not loop:
            return
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
            return


@analytics_group.command("reindex")
@click.pass_obj
def analytics_reindex(obj: Context) -> None:
    """Read the subjects, grades and skills of every published pack's items again (packs published
    before this version), then sum the areas again."""
    from . import analytics, content
    settings = obj.settings()
    obj.database(settings)
    items = 0
    for row in content.releases():
        path = content.blob_path(settings.data_dir, row.manifest_sha256)
        if path is None or not path.is_file():
            click.echo(f"{row.pack_id} {row.version}: its pack.json is not in the blob folder; skipped", err=True)
            continue
        items += analytics.index_pack(json.loads(path.read_bytes()))
    click.echo(f"{items} item(s) of {len(content.releases())} release(s) indexed")


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write each operator's digest into this folder, as USERNAME-YYYY-Www.txt.")
@click.option("--send", is_flag=True, help="Mail it to each operator with an address who opted in ([mail] settings; "
                                           "`user email`), once a week each.")
@click.option("--loop", is_flag=True, help="With --send: keep running and send every week at [mail] weekday and "
                                           "hour (UTC).")
@click.option("--user", "usernames", multiple=True, help="Only this operator (repeatable).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Write it as on this day (default: today, UTC).")
@click.pass_obj
def digest(obj: Context, out_dir: str | None, send: bool, loop: bool, usernames: tuple[str, ...], today) -> None:
    """The weekly digest of every operator (or those named): the week's records and the warnings of their
    scope with their evidence, in their language; written to files (--out) or mailed (--send)."""
    from flask_babel import force_locale

    from . import mailer, operator_views
    from .app import create_app
    from .models import Operator
    if bool(out_dir) == bool(send):
        raise click.UsageError("give --out FOLDER to write the digests, or --send to mail them")
    if loop and not send:
        raise click.UsageError("--loop goes with --send")
    settings = obj.settings()
    obj.database(settings)
    app = create_app(settings)
    day = (today.date() if today else None) or operator_views.operators.utcnow().date()
    query = Operator.select().where(Operator.disabled_at.is_null()).order_by(Operator.username)
    if usernames:
        query = query.where(Operator.username.in_(usernames))
        missing = set(usernames) - {o.username for o in query}
        if missing:
            raise click.UsageError(f"no operator {', '.join(sorted(missing))}: see `classroom-hub user list`")
    if send:
        if loop:
            click.echo(f"sending the weekly digest on ISO weekday {settings.mail_weekday} at "
                       f"{settings.mail_hour:02d}:00 UTC; Ctrl-C stops", err=True)
            try:
                mailer.run_scheduler(app, settings)
            except KeyboardInterrupt:
                click.echo("stopped", err=True)
            return
        try:
            outcome = mailer.send_digests(app, settings, day, list(usernames) or None)
        except mailer.MailError as exc:
            raise click.ClickException(str(exc)) from None
        for username, why in outcome.failed.items():
            click.echo(f"{username}: not sent: {why}", err=True)
        click.echo(f"mailed {len(outcome.sent)} digest(s); {len(outcome.already)} had this week's already")
        if outcome.failed:
            raise SystemExit(1)
        return
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    year, week, _ = day.isocalendar()
    written = 0
    with app.test_request_context("/ops/"):
        for operator in query:
            with force_locale(operator.language or "kk"):
                text = operator_views.digest(operator, day)
            path = folder / f"{operator.username}-{year}-W{week:02d}.txt"
            path.write_text(text, encoding="utf-8")
            written += 1
    click.echo(f"wrote {written} digest(s) into {folder}")


@main.group()
def pilot() -> None:
    """Evaluate a pilot programme against comparison schools (docs/hub.md#pilot-evaluation)."""


def _school_list(values: tuple[str, ...], files: tuple[str, ...]) -> list[str]:
    ids = [v.strip() for value in values for v in value.split(",") if v.strip()]
    for name in files:
        with open(name, encoding="utf-8-sig") as handle:
            ids += [line.split(",")[0].split(";")[0].strip() for line in handle if line.strip()]
    return ids


@pilot.command("evaluate")
@click.option("--pilot", "pilot_ids", multiple=True, help="Pilot school ids (hub or register ids; comma-separated "
                                                          "or repeated).")
@click.option("--pilot-file", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file of pilot school ids, one a line (the first column of a CSV).")
@click.option("--comparison", "comparison_ids", multiple=True, help="Comparison school ids.")
@click.option("--comparison-file", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--start", required=True, type=click.DateTime(["%Y-%m"]), help="The month the pilot began, YYYY-MM.")
@click.option("--subject", required=True, help="The subject, as the packs name it (e.g. mathematics).")
@click.option("--grade", required=True, type=int)
@click.option("--months", type=click.IntRange(1, 24), default=3, show_default=True,
              help="Months before the start (baseline) and from the start (outcome).")
@click.option("--min-answers", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="A student counts in a period with at least this many answers in it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def pilot_evaluate(obj: Context, pilot_ids, pilot_file, comparison_ids, comparison_file, start, subject: str,
                   grade: int, months: int, min_answers: int, as_json: bool) -> None:
    """Growth in pilot schools against comparison schools: difference in differences, Hedges' g with a 95 %
    interval at the school level, and a sentence for the meeting. Run `analytics refresh` first."""
    import dataclasses

    from . import evaluation, operators, pilot as pilots
    obj.database()
    pilot_list, comparison_list = _school_list(pilot_ids, pilot_file), _school_list(comparison_ids, comparison_file)
    both = set(pilot_list) & set(comparison_list)
    if both:
        raise click.UsageError(f"a school cannot be both pilot and comparison: {', '.join(sorted(both))}")
    try:
        result, left_out = pilots.evaluate(pilot_list, comparison_list, start.date(), subject, grade, months,
                                           min_answers)
    except operators.OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    except evaluation.EvaluationError as exc:
        raise click.ClickException(str(exc)) from None
    operators.audit(None, "pilot_evaluate", "cli", subject=subject, grade=grade, start=start.strftime("%Y-%m"),
                    pilot=len(pilot_list), comparison=len(comparison_list), g=round(result.g, 3))
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(result), "sentence": result.sentence(),
                               "significant": result.significant, "left_out": left_out}, indent=2))
        return
    click.echo(result.sentence().capitalize() + ".")
    click.echo(f"difference in growth: {result.difference:+.1f} percentage points of correct answers "
               f"(baseline SD {result.sd:.1f}); p = {result.p_value:.3f}; df {result.df:.1f}")
    if left_out:
        click.echo(f"left out (fewer than {pilots.MIN_STUDENTS} students measured before or after): "
                   f"{', '.join(left_out)}", err=True)


@pilot.command("create")
@click.option("--name", required=True, help="The programme's name.")
@click.option("--subject", "subjects", required=True, multiple=True, help="A subject, as the packs name it (repeatable).")
@click.option("--grade", "grades", required=True, multiple=True, type=click.IntRange(0, 12), help="A grade (repeatable).")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="The day the programme began.")
@click.option("--pilot", "pilot_ids", multiple=True, help="Pilot school ids (hub or register ids; comma-separated "
                                                          "or repeated).")
@click.option("--pilot-file", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--comparison", "comparison_ids", multiple=True, help="Comparison school ids, chosen by you.")
@click.option("--comparison-file", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--match", "match_per_pilot", type=click.IntRange(1, 5),
              help="Instead of --comparison: match this many comparison schools per pilot school on the register "
                   "(region, rural/urban, language of instruction, size).")
@click.option("--outcome", type=click.Choice(["mastery", "diagnostic"]), default="mastery", show_default=True)
@click.option("--baseline-months", type=click.IntRange(1, 24), default=3, show_default=True,
              help="Mastery: months measured before the start, and from it.")
@click.option("--before", "diagnostic_before", help="Diagnostic: the national assignment sent before the start.")
@click.option("--after", "diagnostic_after", help="Diagnostic: the national assignment sent after it.")
@click.option("--plan-students", type=click.IntRange(0, 100000), help="Expected active students per pilot school "
                                                                       "per week.")
@click.option("--plan-sessions", type=click.IntRange(0, 100000), help="Expected sessions (a student's day of work) "
                                                                       "per pilot school per week.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def pilot_create(obj: Context, name, subjects, grades, start, pilot_ids, pilot_file, comparison_ids, comparison_file,
                 match_per_pilot, outcome, baseline_months, diagnostic_before, diagnostic_after, plan_students,
                 plan_sessions, as_json: bool) -> None:
    """Keep a pilot programme on the hub: its schools, outcome and plan; the pages show its estimate."""
    from . import operators, programmes
    obj.database()
    try:
        made = programmes.create(
            None, name=name, subjects=subjects, grades=grades, start=start.date(),
            pilot_schools=_school_list(pilot_ids, pilot_file),
            comparison_schools=_school_list(comparison_ids, comparison_file), match_per_pilot=match_per_pilot or 0,
            outcome=outcome, baseline_months=baseline_months, diagnostic_before=diagnostic_before,
            diagnostic_after=diagnostic_after, plan=programmes.Plan(plan_students, plan_sessions))
    except operators.OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    operators.audit(None, "programme_create", "cli", programme=made.id, name=made.name)
    shown = programmes.as_dict(made)
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    click.echo(f"programme {made.id} {made.name}: {len(shown['pilot_schools'])} pilot and "
               f"{len(shown['comparison_schools'])} comparison school(s) ({made.matching})")


@pilot.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def pilot_list(obj: Context, as_json: bool) -> None:
    """The programmes kept on the hub."""
    from . import operators, programmes
    obj.database()
    found = [programmes.as_dict(p) for p in programmes.visible(operators.Scope("ministry"))]
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    for p in found:
        click.echo(f"{p['id']}\t{p['name']}\t{','.join(p['subjects'])}\t{p['start']}\t"
                   f"{len(p['pilot_schools'])} pilot\t{len(p['comparison_schools'])} comparison")


@pilot.command("show")
@click.argument("programme_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def pilot_show(obj: Context, programme_id: str, as_json: bool) -> None:
    """A programme's estimate, with the sentence for the meeting."""
    import dataclasses

    from . import evaluation, operators, programmes
    obj.database()
    found = programmes.get(operators.Scope("ministry"), programme_id)
    if found is None:
        raise click.UsageError(f"no programme {programme_id}: see `classroom-hub pilot list`")
    body = programmes.as_dict(found)
    try:
        result, left_out = programmes.evaluate(found)
    except evaluation.EvaluationError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        body["estimate"] = {**dataclasses.asdict(result), "sentence": result.sentence(),
                            "significant": result.significant, "left_out": left_out}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    click.echo(f"{found.name}: " + result.sentence() + ".")
    if left_out:
        click.echo(f"left out (fewer than {programmes.pilot.MIN_STUDENTS} students measured before or after): "
                   f"{', '.join(left_out)}", err=True)


if __name__ == "__main__":
    main()
