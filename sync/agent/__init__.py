"""`classroom-sync`: the school's sync agent. It sends every learning record to the national hub,
exactly once, over whatever link the school has, and brings down the national roster, content
packs and the school's HTTPS certificate.

A process of its own next to the web server, sharing the data folder (SQLite in WAL mode lets both
use the database). What it keeps, in the school database: the hub and school id it is enrolled
with, the cursor (the highest record sequence the hub acknowledged), its figures and last error
(`sync_state`), a short log of attempts (`sync_log`) and the "sync now" requests the admin page
makes (`sync_request`). The school's secret is in `<data-dir>/keys/hub-secret`.

The package, from the bottom up (a module imports only those above it in this list):

- `school`: the data folder and database, file locks, the school's clock and `[sync] hours`;
- `status`: all the words of `classroom-sync status` and the small words other messages share;
- `trust`: the national keys pinned at enrolment, rotations, an allowed http:// hub;
- `client`: the one hub client (requests, signing, authenticating the hub's answers) and the secret;
- `records`, `roster`, `certificate`, `content`: the steps, each talking to the hub through the client;
- `jobs`: `Agent` (the order of the steps, each failing on its own) and the APScheduler jobs;
- `cli`: the `classroom-sync` command line.

Being offline is a normal state: it is recorded, and the daemon tries again later, waiting longer
each time (with jitter). Nothing the hub says is acted on unless the hub signed that answer for that
request.
"""
from __future__ import annotations

from .cli import main
from .client import HubClient, SyncFailure
from .jobs import Agent
from .records import Outcome

__all__ = ["Agent", "HubClient", "Outcome", "SyncFailure", "main"]
