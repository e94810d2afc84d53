"""`classroom-sync`, the agent's command line: enrol, the daemon, one sync now, status, content,
the cursor, the national keys and the HTTPS certificate (docs/sync.md)."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from classroom_server.admin.sync import request_sync, state_row, sync_status
from classroom_server.db import database
from classroom_server.models import LearningRecord, SyncState, utcnow
from content_packs import signing
from sync import __version__

from . import certificate, trust
from .client import SyncFailure, read_secret, save_secret
from .jobs import REQUEST_POLL_SECONDS, Agent, run_daemon
from .school import exclusive, open_school
from .status import ENROL_AGAIN, roster_lines, status_dict, status_lines, trust_lines

class Context:
    def __init__(self, data_dir: str | None):
        self.data_dir = data_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="classroom-sync")
@click.option("--data-dir", envvar="CLASSROOM_DATA_DIR", type=click.Path(file_okay=False),
              help="The school's data folder, the web server's. [env: CLASSROOM_DATA_DIR]")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, verbose: bool) -> None:
    """The school's sync agent: sends learning records to the national platform (docs/sync.md)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    ctx.obj = Context(data_dir)


@main.command()
@click.option("--hub", "hub_url", required=True, help="The national hub's address, e.g. https://hub.example.kz")
@click.option("--school-id", required=True, help="The id the national platform gave this school.")
@click.option("--secret-file", required=True, type=click.Path(dir_okay=False),
              help="A file holding the secret the national platform gave this school (it is copied).")
@click.option("--national-key", "national_key", required=True, metavar="FINGERPRINT",
              help="The national signing key's fingerprint, given out with the secret (`classroom-hub keys "
                   "show` prints it): a hub that does not publish this key is refused.")
@click.option("--insecure-http", is_flag=True,
              help="Allow a plain http:// hub address (a lab without TLS): the admin page then warns.")
@click.pass_obj
def enroll(obj: Context, hub_url: str, school_id: str, secret_file: str, national_key: str,
           insecure_http: bool) -> None:
    """Enrol this school with the national hub: checks the hub answers, accepts the id and secret and
    publishes the national key with the given fingerprint, then saves them (the secret to
    <data-dir>/keys/hub-secret, mode 0600; the key as the one this school trusts for content)."""
    hub_url = hub_url.strip().rstrip("/")
    parts = urlsplit(hub_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.UsageError("--hub must be an https:// address, e.g. https://hub.example.kz")
    if parts.scheme == "http" and not insecure_http:
        raise click.UsageError(f"--hub {hub_url} is plain http://: whoever is on the way could read the school's "
                               f"traffic. Use the hub's https:// address; in a lab without TLS only, add "
                               f"--insecure-http")
    if parts.scheme == "https" and insecure_http:
        insecure_http = False  # nothing to allow
    if signing.normalize_fingerprint(national_key) is None:
        raise click.UsageError(f"--national-key {national_key!r} is not a key fingerprint: 64 hex digits (spaces "
                               f"allowed) as the national platform gives it out (`classroom-hub keys show`)")
    school_id = school_id.strip()
    try:
        secret = Path(secret_file).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {secret_file}: {exc}") from None
    if not secret or any(c.isspace() for c in secret):
        raise click.ClickException(f"{secret_file} does not hold a secret (one line, as `classroom-hub school add` "
                                   f"printed it)")
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    if insecure_http:
        agent.client.insecure_hub = hub_url
    try:
        info, skew = agent.ping(hub_url)
        click.echo(f"hub {hub_url} answers ({info.get('hub') or 'no name'}; clocks differ by {abs(skew):.1f} s)")
        held = agent.cursor(hub_url, school_id, secret)
        pinned, keys = trust.pin(agent.client, hub_url, school_id, secret, national_key)
    except (SyncFailure, trust.TrustFailure) as exc:
        raise click.ClickException(f"not enrolled: {exc}") from None
    last_seq = LearningRecord.select(LearningRecord.seq).order_by(LearningRecord.seq.desc()).scalar() or 0
    if held > last_seq:
        raise click.ClickException(
            f"not enrolled: the hub holds records up to {held} for school {school_id}, but this database has only "
            f"{last_seq}: is this the right school id? (A school reinstalled without its backup needs a new id.)")
    path = save_secret(settings, secret)
    with database.atomic():
        state = state_row()
        changed = state.school_id not in (None, school_id) or state.hub_url not in (None, hub_url)
        SyncState.update(hub_url=hub_url, school_id=school_id, acked_seq=held, last_error=None,
                         last_error_code=None, agent_version=__version__, updated_at=utcnow()) \
            .where(SyncState.id == 1).execute()
    trust.save_pinned(pinned, keys, hub_url, insecure_http)
    if changed:
        click.echo(f"replaced the previous enrolment (school {state.school_id} at {state.hub_url})")
    vouched = " and the older ones it vouches for" if len(keys.trusted) > 1 else ""
    click.echo(f"trusting {len(keys.trusted)} national signing key(s) for content packs from the hub: "
               f"{signing.fingerprint(pinned)} (pinned){vouched}")
    if insecure_http:
        click.echo(f"warning: {hub_url} is plain http://: answers are authenticated, not private, and the admin "
                   f"page shows a warning. {ENROL_AGAIN} once the hub has one", err=True)
    click.echo(f"enrolled school {school_id} with {hub_url}; secret saved in {path}")
    click.echo(f"the hub holds records up to {held}; {last_seq - held} record(s) will be sent")
    click.echo("start the agent: `classroom-sync run`, best as a service (docs/sync.md has a systemd unit)")


@main.command()
@click.pass_obj
def run(obj: Context) -> None:
    """The daemon: sync every [sync] interval_seconds within [sync] hours, retry with backoff while the
    link is down, start at once when "sync now" is pressed on the admin page, and back up the school
    every night at [backup] time."""
    settings = open_school(obj.data_dir, wait_for_schema=True)
    agent = Agent(settings, reread_settings=True)
    state = state_row()
    where = f"school {state.school_id} with {state.hub_url}" if state.hub_url else "(not enrolled yet)"
    nightly = (f"nightly backup at {settings.backup_time} keeping {settings.backup_keep}"
               if settings.backup_time != "off" else "no nightly backup")
    click.echo(f"classroom-sync {__version__}: syncing {where} every {settings.sync_interval_seconds} s, hours "
               f"{settings.sync_hours}, cap {settings.sync_bandwidth_bytes_per_second or 'none'} bytes/s, "
               f"{nightly} (data: {settings.data_dir})", err=True)
    sys.stderr.flush()
    run_daemon(agent)
    click.echo("stopped", err=True)


@main.command()
@click.pass_obj
def once(obj: Context) -> None:
    """One full sync now, whatever the hour, with a line per step; exit status 1 if a step failed."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    with exclusive(settings) as mine:
        if not mine:
            raise click.ClickException("another classroom-sync is syncing right now (the daemon?); see "
                                       "`classroom-sync status`, or ask for a sync on the admin page")
        outcome = agent.sync(progress=click.echo)
    fetched = agent.content(progress=click.echo) if outcome.ok else None
    if not outcome.ok or outcome.roster_error or (fetched is not None and not fetched.ok):
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Where syncing stands: enrolment, last success, last attempt and its error, records waiting,
    bytes sent, batch size, recent attempts."""
    settings = open_school(obj.data_dir)
    current = sync_status()
    if as_json:
        click.echo(json.dumps(status_dict(current, settings), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(status_lines(current, settings) + roster_lines()))


@main.command("content")
@click.option("--any-hour", is_flag=True, help="Download now even outside [sync] download_hours.")
@click.pass_obj
def content_command(obj: Context, any_hour: bool) -> None:
    """Fetch the national catalog and bring down new or updated content packs now, with progress;
    packs refused before are tried again. Exit status 1 if it stopped on an error."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    outcome = agent.content(progress=click.echo, force_hours=any_hour, retry_failed=True)
    if outcome.skipped:
        raise click.ClickException(f"{outcome.skipped} (the daemon?); see `classroom-sync status`")
    click.echo(f"content: {len(outcome.installed)} installed, {len(outcome.removed)} removed, "
               f"{len(outcome.waiting)} waiting for the download hours, {len(outcome.failed)} refused; "
               f"{outcome.bytes} bytes downloaded")
    if not outcome.ok or outcome.failed:
        sys.exit(1)


@main.command("now")
@click.pass_obj
def now_command(obj: Context) -> None:
    """Ask the running daemon to sync now (what the admin page's button does)."""
    open_school(obj.data_dir)
    request_sync("classroom-sync now")
    click.echo(f"asked; the daemon starts within {REQUEST_POLL_SECONDS:.0f} s (see `classroom-sync status`)")


@main.command()
@click.option("--yes", is_flag=True, help="Do it without asking.")
@click.pass_obj
def rewind(obj: Context, yes: bool) -> None:
    """Move the cursor back to what the hub holds, so records it lost are sent again."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    state = state_row()
    if not (state.hub_url and state.school_id):
        raise click.ClickException("this school is not enrolled")
    try:
        agent.ping(state.hub_url)
        held = agent.cursor(state.hub_url, state.school_id, read_secret(settings))
    except SyncFailure as exc:
        raise click.ClickException(str(exc)) from None
    if held >= state.acked_seq:
        click.echo(f"the hub holds everything up to {held}; nothing to rewind")
        return
    if not yes:
        click.confirm(f"send records {held + 1}-{state.acked_seq} again?", abort=True)
    SyncState.update(acked_seq=held, last_error=None, last_error_code=None).where(SyncState.id == 1).execute()
    click.echo(f"cursor moved back to {held}; the next sync sends the rest")


main.add_command(certificate.https_command)


@main.group("keys")
def keys_group() -> None:
    """The national keys this school trusts for content packs from the hub."""


@keys_group.command("show")
@click.pass_obj
def keys_show(obj: Context) -> None:
    """Print the national keys this school trusts (the pinned one marked) and what happened to them."""
    open_school(obj.data_dir)
    current = sync_status(attempts=0)
    click.echo("\n".join(trust_lines(current, events=30)))


@keys_group.command("pin")
@click.argument("fingerprint")
@click.pass_obj
def keys_pin(obj: Context, fingerprint: str) -> None:
    """Trust the national key the hub publishes under FINGERPRINT (given out by the national platform, out
    of band) instead of the keys trusted so far: for a school enrolled before keys were pinned, or after
    the platform replaced a leaked key."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    state = state_row()
    if not (state.hub_url and state.school_id):
        raise click.ClickException("this school is not enrolled: run `classroom-sync enroll` (it pins the key too)")
    try:
        agent.ping(state.hub_url)
        pinned, keys = trust.pin(agent.client, state.hub_url, state.school_id, read_secret(settings), fingerprint)
    except (SyncFailure, trust.TrustFailure) as exc:
        raise click.ClickException(f"nothing pinned: {exc}") from None
    insecure = trust.http_allowed(state.hub_url) and state.hub_url.lower().startswith("http://")
    trust.save_pinned(pinned, keys, state.hub_url, insecure)
    click.echo(f"pinned the national key {signing.fingerprint(pinned)}; trusting {len(keys.trusted)} key(s) for content packs")
