"""`classroom-server`: the school web server and its admin commands."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from . import __version__
from .collation import NAMES
from .permissions import make_folder
from .settings import Settings, SettingsError, load_settings, render_ini

log = logging.getLogger(__name__)


def _audit(action: str, target: str | None = None, details: dict | None = None) -> None:
    """Record an administrator's command in the audit log, as the admin page records its actions.

    Call inside the app context, in the action's own transaction where there is one. The actor is
    the command line and the system account that ran it (there is no signed-in user here).
    """
    import getpass
    from .admin import audit
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = str(os.getuid())
    audit.write(action, target, details, actor_name=f"command line ({who})")


class Context:
    def __init__(self, data_dir: str | None):
        self.data_dir = data_dir

    def settings(self, **overrides) -> Settings:
        try:
            settings = load_settings(self.data_dir)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        return settings.replace(**{k: v for k, v in overrides.items() if v is not None})

    def app(self, settings: Settings | None = None, migrate: bool = True):
        """An app over a writable data folder and a current database."""
        from . import migrations
        from .app import create_app
        from .db import DatabaseError, database
        settings = settings or self.settings()
        _check_writable(settings.data_dir)
        try:
            app = create_app(settings)
            database.connect(reuse_if_open=True)
            if migrate:
                for name in migrations.migrate(database.obj):
                    click.echo(f"applied migration {name}", err=True)
            else:
                migrations.check_not_newer(database.obj)
        except (DatabaseError, migrations.MigrationError) as exc:
            raise click.ClickException(str(exc)) from None
        return app


def _check_writable(folder: Path) -> None:
    try:
        make_folder(folder)
    except OSError as exc:
        raise click.ClickException(f"cannot create the data folder {folder}: {exc.strerror}. Choose another "
                                   f"with --data-dir or CLASSROOM_DATA_DIR, or fix its permissions.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.ClickException(f"the data folder {folder} is not writable by this user. Run as the "
                                   f"user that owns it, fix its permissions, or choose another with --data-dir.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="classroom-server")
@click.option("--data-dir", envvar="CLASSROOM_DATA_DIR", type=click.Path(file_okay=False),
              help="The school's data folder (database, settings, content). [env: CLASSROOM_DATA_DIR]")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, verbose: bool) -> None:
    """The offline classroom server for a school."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(data_dir)


@main.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Bring the database schema up to date."""
    from . import migrations
    from .db import database
    obj.app(migrate=False)
    names = migrations.migrate(database.obj)
    click.echo(f"applied {len(names)} migration(s)" if names else "the database is up to date")


def _read_password(password_file: str | None, prompt: str) -> str:
    if password_file:
        try:
            return Path(password_file).read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise click.ClickException(f"cannot read {password_file}: {exc.strerror}") from None
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@main.command()
@click.option("--admin", "username", required=True, help="Username of the first administrator.")
@click.option("--name", "display_name", help="Their full name (default: the username).")
@click.option("--password-file", type=click.Path(dir_okay=False), help="Read the password from this file.")
@click.option("--school-name", help="The school's name, shown on the pages.")
@click.pass_obj
def init(obj: Context, username: str, display_name: str | None, password_file: str | None,
         school_name: str | None) -> None:
    """Set up a new school: data folder, database and the first administrator."""
    from .accounts import services as accounts
    app = obj.app()
    with app.app_context():
        if accounts.admin_exists():
            raise click.ClickException("this school has an administrator already; add more with "
                                       "`classroom-server user create NAME --role admin`")
        password = _read_password(password_file, "Password for " + username)
        try:
            accounts.create_user(username, display_name or username, "admin", password)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        if school_name:
            accounts.put_setting("school_name", school_name)
    settings = obj.settings()
    if not settings.ini_path.exists():
        settings.ini_path.write_text(render_ini(), encoding="utf-8")
        click.echo(f"wrote {settings.ini_path}")
    click.echo(f"administrator {username} created in {settings.data_dir}")


def _serve(app, settings: Settings, banner: list[str] | None = None, one_cpu: bool = True) -> None:
    """Serve `app` with waitress: in this process, or in `[server] workers` processes sharing the port."""
    from . import serving
    from .app import MAX_PACK_UPLOAD
    from .db import database
    workers = serving.worker_count(settings.server_workers)
    try:
        sockets = serving.listening_sockets(settings.server_host, settings.server_port, workers)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {settings.server_host}:{settings.server_port}: "
                                   f"{exc.strerror or exc}; pick another [server] port or stop what uses it") from None
    port = sockets[0].getsockname()[1]
    from .accounts.services import HASHING_THREADS
    if workers * HASHING_THREADS >= settings.security_address_attempts:
        # Sign-ins under way count as wrong tries until checked: a class behind one router, every
        # PIN right, could be told to wait (docs/security.md).
        click.echo(f"warning: {workers} worker processes check up to {workers * HASHING_THREADS} sign-ins at "
                   f"once, and [security] address_attempts is {settings.security_address_attempts}: raise it "
                   f"above {workers * HASHING_THREADS} or lower [server] workers", err=True)
    server = None
    if workers == 1:
        if one_cpu:
            serving.pin_to_one_cpu()
        server = serving.make_server(app, sockets[0], settings.server_threads, MAX_PACK_UPLOAD,
                                     settings.server_trusted_proxy)
    host = "127.0.0.1" if settings.server_host in ("0.0.0.0", "::", "") else settings.server_host
    what = f"{workers} worker processes, " if workers > 1 else ""
    click.echo(f"Serving on http://{host}:{port}/  ({what}data: {settings.data_dir})", err=True)
    for line in banner or []:
        click.echo(line, err=True)
    sys.stderr.flush()
    if server is None:
        status = serving.serve_workers(app, sockets, settings.server_threads, one_cpu, MAX_PACK_UPLOAD,
                                       before_fork=database.close, trusted_proxy=settings.server_trusted_proxy)
        click.echo("stopped", err=True)
        sys.exit(status)
    serving.freeze_startup_objects()
    serving.run_until_stopped(server)
    click.echo("stopped", err=True)


@main.command()
@click.option("--host", help="Address to listen on [setting server.host].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port; 0 picks a free one [setting server.port].")
@click.option("--threads", type=click.IntRange(1, 256), help="Worker threads [setting server.threads].")
@click.option("--workers", help="Worker processes, or 'auto' for one per CPU (up to 4) [setting server.workers].")
@click.option("--one-cpu/--all-cpus", default=True, show_default=True,
              help="Run each process's request threads on one CPU (faster: Python runs one thread at a time).")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, threads: int | None, workers: str | None,
          one_cpu: bool) -> None:
    """Serve the school over the LAN (waitress)."""
    if workers is not None:
        from .settings import parse_workers
        try:
            workers = parse_workers(workers)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--workers") from None
    settings = obj.settings(server_host=host, server_port=port, server_threads=threads, server_workers=workers)
    _restore_if_asked(settings)
    app = obj.app(settings)
    _serve(app, settings, one_cpu=one_cpu)


def _restore_if_asked(settings) -> None:
    """A restore asked for on the admin page happens here, before the database is opened."""
    from .admin import backup
    try:
        result = backup.apply_pending_restore(settings)
    except backup.BackupError as exc:
        click.echo(f"the restore asked for on the admin page failed; serving the data as it was: {exc}", err=True)
        return
    if result is not None:
        click.echo(f"restored the backup of {result.created_at} as asked on the admin page; the data before it "
                   f"is in {result.moved_aside}", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets phones on the LAN connect.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--no-serve", is_flag=True, help="Only make the demo school, do not serve it.")
@click.pass_obj
def demo(obj: Context, host: str, port: int, no_serve: bool) -> None:
    """Make (or reuse) a demo school with sample content and accounts, and serve it."""
    from .demo import import_sample_packs, make_demo_school
    if obj.data_dir is None:
        obj.data_dir = str(Path.cwd() / "classroom-demo")
    settings = obj.settings(server_host=host, server_port=port)
    app = obj.app(settings)
    with app.app_context():
        logins = make_demo_school()
        packs = import_sample_packs(settings)
    lines = ["", "Demo school " + ("created" if logins.created else "reused") + f" in {settings.data_dir}",
             f"  administrator: {logins.admin} / {logins.password}",
             "  teachers: " + ", ".join(logins.teachers) + f" / {logins.password}"]
    lines += [f"  students of {name}: pick the class, then your name, then {how}"
              for name, how in logins.classes]
    lines.append("  sample content: " + ", ".join(packs))
    if no_serve:
        click.echo("\n".join(lines))
        return
    _serve(app, settings, lines)


@main.group()
def config() -> None:
    """Write or show the settings."""


@config.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing settings file.")
@click.pass_obj
def config_init(obj: Context, force: bool) -> None:
    """Write a commented classroom-server.ini with every setting and its default."""
    settings = obj.settings()
    path = settings.ini_path
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    _check_writable(settings.data_dir)
    path.write_text(render_ini(), encoding="utf-8")
    click.echo(f"wrote {path}")


@config.command("show")
@click.pass_obj
def config_show(obj: Context) -> None:
    """Print the settings in force (file, variables and defaults combined)."""
    click.echo(render_ini(obj.settings()), nl=False)


@main.group()
def user() -> None:
    """Create, list and change accounts."""


@user.command("create")
@click.argument("username", required=False)
@click.option("--role", type=click.Choice(["admin", "teacher", "student"]), required=True)
@click.option("--name", "display_name", help="Full name (default: the username).")
@click.option("--class", "class_name", help="Add them to this class (it must exist).")
@click.option("--password-file", type=click.Path(dir_okay=False), help="Read the password from this file.")
@click.option("--language", type=click.Choice(["kk", "ru", "en"]))
@click.pass_obj
def user_create(obj: Context, username: str | None, role: str, display_name: str | None,
                class_name: str | None, password_file: str | None, language: str | None) -> None:
    """Create an account. Students need no username, only --name."""
    from .accounts import services as accounts
    from .models import Classroom
    if not (username or display_name):
        raise click.UsageError("give a USERNAME, or --name for a student")
    app = obj.app()
    with app.app_context():
        classroom = None
        if class_name:
            classroom = Classroom.get_or_none(Classroom.name == class_name)
            if classroom is None:
                raise click.ClickException(f"there is no class {class_name!r}; create it on the admin page "
                                           f"or with `user import`")
        password = _read_password(password_file, "Password") if role != "student" else None
        from .db import database
        try:
            with database.atomic():
                created = accounts.create_user(username, display_name or username, role, password, language)
                if classroom:
                    accounts.enrol(created, classroom)
                _audit("user.create", created.username or created.display_name,
                       {"role": role, "class": class_name} if class_name else {"role": role})
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {created.username or created.display_name} (id {created.id})")


@user.command("list")
@click.option("--role", type=click.Choice(["admin", "teacher", "student"]))
@click.pass_obj
def user_list(obj: Context, role: str | None) -> None:
    """List accounts: id, role, username, name, classes."""
    from .accounts.services import user_classrooms
    from .models import User
    app = obj.app()
    with app.app_context():
        query = User.select().order_by(User.role, User.display_name.collate(NAMES))
        if role:
            query = query.where(User.role == role)
        for row in query:
            classes = ",".join(c.name for c in user_classrooms(row))
            state = "" if row.is_active else "  (disabled)"
            click.echo(f"{row.id}\t{row.role}\t{row.username or '-'}\t{row.display_name}\t{classes}{state}")


@user.command("passwd")
@click.argument("username")
@click.option("--password-file", type=click.Path(dir_okay=False), help="Read the password from this file.")
@click.pass_obj
def user_passwd(obj: Context, username: str, password_file: str | None) -> None:
    """Set a teacher's or administrator's password (signs them out everywhere)."""
    from .accounts import services as accounts
    from .models import User
    app = obj.app()
    with app.app_context():
        target = User.get_or_none(User.username == username.strip().lower())
        if target is None:
            raise click.ClickException(f"there is no user {username!r}; see `classroom-server user list`")
        if target.role == "student":
            raise click.ClickException("students have no password: their teacher sets a PIN or picture code "
                                       "on the class page")
        password = _read_password(password_file, "New password")
        from .db import database
        try:
            with database.atomic():
                accounts.set_password(target, password)
                _audit("user.password_reset", target.username)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"password changed for {target.username}")


@user.command("import")
@click.argument("csv_file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check every row and report, change nothing.")
@click.pass_obj
def user_import(obj: Context, csv_file, dry_run: bool) -> None:
    """Create accounts from a CSV file (columns: role, display_name, username, password, class, pin,
    language). Each rejected row is reported with its reason; the others are created."""
    from .accounts import services as accounts
    app = obj.app()
    with app.app_context():
        try:
            report = accounts.import_users(csv_file.read(), dry_run=dry_run)
        except accounts.AccountError as exc:
            raise click.ClickException(f"{csv_file.name}: {exc}") from None
        if not dry_run and report.created:
            _audit("user.import", Path(csv_file.name).name,
                   {"created": len(report.created), "rejected": len(report.rejected)})
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} {len(report.created)} account(s), rejected {len(report.rejected)} row(s)")
    for name in report.classes_created:
        click.echo(f"  new class: {name}")
    for line, why in report.rejected:
        click.echo(f"  line {line}: {why}")
    if report.rejected:
        sys.exit(2)


@main.group()
def pack() -> None:
    """Build, check and install content packs."""


@pack.command("keygen")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="pack-signing-key.pem",
              show_default=True, help="Where to write the private key (keep it secret).")
def pack_keygen(output: str) -> None:
    """Make an Ed25519 signing key; prints the public key schools add to [content] trusted_keys."""
    from content_packs.signing import generate_key
    path = Path(output)
    if path.exists():
        raise click.ClickException(f"{path} exists; choose another --output (an old key may still be needed)")
    pem, public = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    click.echo(f"private key: {path} (keep it secret)")
    click.echo(f"public key:  {public}")


@pack.command("build")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .ckpack file to write.")
@click.option("--key", type=click.Path(exists=True, dir_okay=False), help="Sign with this private key.")
def pack_build(source: str, output: str, key: str | None) -> None:
    """Build a .ckpack from a source folder (pack.json without `files`, plus the files)."""
    from content_packs.builder import build_pack
    from content_packs.manifest import InvalidPack
    from content_packs.signing import load_private_key
    try:
        manifest = build_pack(source, output, load_private_key(key) if key else None)
    except InvalidPack as exc:
        raise click.ClickException(str(exc)) from None
    signed = "signed" if key else "UNSIGNED (schools will refuse it unless imported as unreviewed)"
    click.echo(f"built {output}: {manifest.id} {manifest.version}, {len(manifest.files)} files, "
               f"{manifest.total_size} bytes, {signed}")


@pack.command("verify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_obj
def pack_verify(obj: Context, paths: tuple[str, ...]) -> None:
    """Check packs completely (structure, every hash, signature) without installing them."""
    from content_packs.manifest import InvalidPack
    from .content.services import verify_pack
    trusted = obj.settings().content_trusted_keys
    failed = 0
    for path in paths:
        try:
            manifest, untrusted = verify_pack(path, trusted)
        except InvalidPack as exc:
            failed += 1
            click.echo(f"{path}: INVALID: {exc}")
            continue
        trust = "signature trusted" if untrusted is None else f"not trusted here: {untrusted}"
        click.echo(f"{path}: OK {manifest.id} {manifest.version}, {len(manifest.files)} files, "
                   f"review {manifest.review_status}, {trust}")
    if failed:
        sys.exit(1)


@pack.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--unreviewed", is_flag=True,
              help="Accept unsigned, untrusted or draft packs as local content marked 'not reviewed'.")
@click.pass_obj
def pack_import(obj: Context, paths: tuple[str, ...], unreviewed: bool) -> None:
    """Install packs: .ckpack files, pack folders, or a USB drive's folder scanned for packs."""
    from content_packs.manifest import InvalidPack
    from content_packs.reader import iter_sources
    from .content.services import install_pack, pack_size
    settings = obj.settings()
    app = obj.app(settings)
    failed = 0
    with app.app_context():
        try:
            sources = list(iter_sources(list(paths)))
        except InvalidPack as exc:
            raise click.ClickException(str(exc)) from None
        for source in sources:
            try:
                with click.progressbar(length=pack_size(source), label=source.name, file=sys.stderr,
                                       show_pos=False) as bar:
                    result = install_pack(source, settings.data_dir, settings.content_trusted_keys,
                                          allow_unreviewed=unreviewed, progress=bar.update)
            except InvalidPack as exc:
                failed += 1
                click.echo(f"{source}: refused: {exc}")
                continue
            if result.unchanged:
                click.echo(f"{source}: {result.pack_id} {result.version} is installed already")
                continue
            _audit("content.import", result.pack_id, {"version": result.version, "reviewed": result.reviewed,
                                                      "from": str(source)})
            note = "" if result.reviewed else " (NOT REVIEWED: shown as local content)"
            was = f", was {result.previous_version}" if result.previous_version else ""
            click.echo(f"{source}: installed {result.pack_id} {result.version}{was}; {result.files_stored} "
                       f"new files, {result.bytes_stored} bytes{note}")
    if failed:
        sys.exit(1)


@pack.command("list")
@click.pass_obj
def pack_list(obj: Context) -> None:
    """List installed packs."""
    from .models import ContentPack
    app = obj.app()
    with app.app_context():
        for row in ContentPack.select().order_by(ContentPack.pack_id):
            titles = json.loads(row.title)
            state = "reviewed" if row.reviewed else "NOT REVIEWED"
            click.echo(f"{row.pack_id}\t{row.version}\t{state}\t{row.total_size}\t"
                       f"{titles.get('kk') or next(iter(titles.values()))}")


@pack.command("remove")
@click.argument("pack_id")
@click.pass_obj
def pack_remove(obj: Context, pack_id: str) -> None:
    """Remove an installed pack and the files no other pack uses."""
    from content_packs.manifest import InvalidPack
    from .content.services import remove_pack
    settings = obj.settings()
    app = obj.app(settings)
    with app.app_context():
        try:
            remove_pack(pack_id, settings.data_dir)
        except InvalidPack as exc:
            raise click.ClickException(str(exc)) from None
        _audit("content.remove", pack_id)
    click.echo(f"removed {pack_id}")


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--with-content", is_flag=True,
              help="Include the content files too (large; without them packs are re-imported or synced again).")
@click.pass_obj
def backup_command(obj: Context, file: str, with_content: bool) -> None:
    """Back up the database, settings and keys into one .tar.gz FILE, while the server runs."""
    from .admin import backup
    settings = obj.settings()

    def bar(total: int):
        return click.progressbar(length=total, label="content", file=sys.stderr, show_pos=False)
    try:
        result = backup.make_backup(settings, file, with_content, progress=bar if with_content else None)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    with obj.app(settings, migrate=False).app_context():
        _audit("backup.make", Path(result.path).name, {"with_content": with_content, "size": result.size})
    content = f", {result.blobs} content files" if with_content else " (no content files)"
    click.echo(f"wrote {result.path}: {result.size // 1024} KiB, schema {result.schema:04d}{content}")
    if result.missing_blobs:
        click.echo(f"warning: {result.missing_blobs} content file(s) were already missing from the store; "
                   f"run `classroom-server doctor`", err=True)


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True,
              help="Replace an existing database (it is moved to <data>/before-restore-<time>/, never deleted).")
@click.pass_obj
def restore_command(obj: Context, file: str, force: bool) -> None:
    """Check a backup completely, then restore it into the data folder (stop the server first)."""
    from .admin import backup
    from .settings import default_data_dir
    data_dir = Path(obj.data_dir) if obj.data_dir else default_data_dir()

    def bar(total: int):
        return click.progressbar(length=total, label="checking", file=sys.stderr, show_pos=False)
    try:
        result = backup.restore_backup(file, data_dir, force=force, progress=bar)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if result.moved_aside:
        click.echo(f"the previous database, settings and keys are in {result.moved_aside}")
    click.echo(f"restored the backup of {result.created_at} (version {result.app_version}, "
               f"schema {result.schema:04d}) into {data_dir}")
    for name in result.migrations_applied:
        click.echo(f"applied migration {name}")
    if result.packs_missing_content:
        click.echo(f"{len(result.packs_missing_content)} of {result.packs} pack(s) need their content again: "
                   f"import them (`classroom-server pack import`) or let the sync agent fetch them: "
                   + ", ".join(result.packs_missing_content))
    elif result.packs:
        click.echo(f"all {result.packs} pack(s) have their content")


@main.command("doctor")
@click.option("--all-content", is_flag=True, help="Also check the SHA-256 of every content file (slow).")
@click.option("--fix", is_flag=True, help="Narrow file modes that let other users read the data folder.")
@click.pass_obj
def doctor_command(obj: Context, all_content: bool, fix: bool) -> None:
    """Check settings, permissions, disk, database, clock, keys and content; say how to fix problems."""
    from .admin import doctor

    def bar(total: int):
        return click.progressbar(length=total, label="hashing content", file=sys.stderr, show_pos=False)
    failed = False
    for check in doctor.run_checks(obj.data_dir, all_content=all_content, progress=bar, fix=fix):
        click.echo(f"{check.level:<5} {check.name}: {check.message}")
        failed = failed or check.level == doctor.FAIL
    sys.exit(1 if failed else 0)


@main.group()
def dev() -> None:
    """Tools for developers, tests and benchmarks (not for a school in use)."""


@dev.command("simulate")
@click.option("--students", type=click.IntRange(1, 100_000), required=True, help="Students in the class.")
@click.option("--records", type=click.IntRange(1, 1_000_000), required=True, help="Records per student.")
@click.option("--days", type=click.IntRange(1, 3650), default=1, show_default=True,
              help="Spread the activity over this many past school days.")
@click.option("--class", "class_name", default="Simulated", show_default=True,
              help="The class to use (made when missing; its existing students are used first).")
@click.option("--seed", type=int, help="Make the same activity every time.")
@click.pass_obj
def dev_simulate(obj: Context, students: int, records: int, days: int, class_name: str, seed: int | None) -> None:
    """Write realistic learning records (opened, answered right and wrong, completed) for a class,
    through the same service the learn pages use; transactions are batched (1000 records each)."""
    from .simulate import SimulationError, simulate
    app = obj.app()
    with app.app_context():
        with click.progressbar(length=students * records, label="records", file=sys.stderr,
                               show_pos=True) as bar:
            try:
                result = simulate(students, records, days, class_name, seed, progress=bar.update)
            except SimulationError as exc:
                raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {result.records} records (seq {result.first_seq}-{result.last_seq}) for {result.students} "
               f"students of class {result.classroom} ({result.students_created} new)")


@main.group()
def adaptive() -> None:
    """Adaptive practice: the model the tutor uses (fitted each night by classroom-sync)."""


@adaptive.command("fit")
@click.pass_obj
def adaptive_fit(obj: Context) -> None:
    """Fit the model to every answer of the school now and store it (students keep working meanwhile)."""
    from .learn import tutor
    app = obj.app()
    with app.app_context():
        result = tutor.fit_job(obj.settings())
    click.echo(f"fit {result.version}: {result.records} answers of {result.students} students, "
               f"{result.skills} skills, {result.seconds:.1f} s")


@adaptive.command("status")
@click.pass_obj
def adaptive_status(obj: Context) -> None:
    """When the model was last fitted, on how many answers, and its size."""
    from .learn import tutor
    app = obj.app()
    with app.app_context():
        row = tutor.fit_status()
        if row is None:
            click.echo("no fit yet: the tutor uses the built-in defaults "
                       "(run `classroom-server adaptive fit`, or wait for classroom-sync's nightly fit)")
            return
        data = json.loads(row.params)
    click.echo(f"fit {row.id} at {row.fitted_at:%Y-%m-%d %H:%M} UTC: {row.records} answers, "
               f"{len(data.get('skills') or {})} skills, {len(data.get('items') or {})} items, "
               f"{row.fit_seconds:.1f} s")

if __name__ == "__main__":
    main()
