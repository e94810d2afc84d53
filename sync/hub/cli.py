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

        from . import migrations
        from .db import DatabaseError, database, open_database
        settings = settings or self.settings()
        if settings.database_url == "":
            _check_writable(settings.data_dir)
        try:
            db = open_database(settings.effective_database_url, max_connections=settings.server_threads + 4)
            database.connect(reuse_if_open=True)
            if migrate:
                for name in migrations.migrate(db):
                    click.echo(f"applied migration {name}", err=True)
            elif migrations.pending(db):
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
    obj.database(settings, migrate=True)
    if not settings.database_url:
        click.echo("note: this hub uses a SQLite file, for a quick local try only; set [database] url "
                   "(or CLASSROOM_HUB_DATABASE_URL) to a PostgreSQL server for real use", err=True)
    click.echo(f"hub database ready: {_shown(settings.effective_database_url)}")


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

    from .app import create_app
    settings = obj.settings(server_host=host, server_port=port, server_threads=threads)
    obj.database(settings).close()
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
    click.echo("The secret is shown this once. Give it to the school over a trusted channel; on the school "
               f"server run: classroom-sync enroll --hub URL --school-id {enrolled.id} --secret-file FILE",
               err=True)


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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per school).")
@click.pass_obj
def report(obj: Context, as_json: bool) -> None:
    """Per school: records received, acked cursor, last contact, agent version, forwarding."""
    from . import services
    obj.database()
    rows = services.report()
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


if __name__ == "__main__":
    main()
