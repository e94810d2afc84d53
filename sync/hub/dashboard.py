"""The national dashboard's data: school-level counts only (no learner, no statement), as plain dicts.

Reads the school table and the per-day counters (`school_day`), never the record table, so the cost
grows with schools x days shown, not with records held.
"""
from __future__ import annotations

import datetime
import functools
import json
from typing import Any

from peewee import JOIN, fn

from content_packs.manifest import version_key

from . import services
from .db import database
from .models import PackRelease, School, SchoolDay, SchoolState, utcnow

DAY_CHOICES = (14, 30)
PAGE_SIZE = 100
NOT_REPORTED = ("content_versions", "disk")  # null for a school whose agent has not sent its state yet
LOW_DISK_PERCENT = 10  # less free than this is marked
# (label, at least this many days since last contact, fewer than this many; None: no bound)
CONTACT_BUCKETS = (("under 1 day", 0, 1), ("1 day", 1, 2), ("2 days", 2, 3), ("3-6 days", 3, 7),
                   ("7-13 days", 7, 14), ("14-29 days", 14, 30), ("30+ days", 30, None))
NEVER = "never"


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


def _bucket(days_since: int | None) -> str:
    if days_since is None:
        return NEVER
    for label, low, high in CONTACT_BUCKETS:
        if days_since >= low and (high is None or days_since < high):
            return label
    return CONTACT_BUCKETS[-1][0]  # a clock moved back: a contact "in the future" counts as recent


def _per_day(first: datetime.date, region: str | None, school_ids: list[str] | None) -> list[tuple]:
    """(school, day, records) rows from `first` on, for the region's schools or the given ids.

    Raw driver rows (the day a date on PostgreSQL, ISO text on SQLite): with 7,500 schools that is
    ~100,000 rows, and peewee's per-value conversion would be most of the JSON's time.
    """
    query = SchoolDay.select(SchoolDay.school, SchoolDay.day, SchoolDay.records).where(SchoolDay.day >= first)
    if school_ids is not None:
        if not school_ids:
            return []
        query = query.where(SchoolDay.school.in_(school_ids))
    elif region:
        query = query.join(School, on=(SchoolDay.school == School.id)).where(School.region == region)
    return database.execute(query).fetchall()


def _totals(first: datetime.date, region: str | None) -> dict[datetime.date, int]:
    query = (SchoolDay.select(SchoolDay.day, fn.SUM(SchoolDay.records))
             .where(SchoolDay.day >= first).group_by(SchoolDay.day))
    if region:
        query = query.join(School, on=(SchoolDay.school == School.id)).where(School.region == region)
    return {_as_date(day): int(total) for day, total in query.tuples()}  # PostgreSQL sums to Decimal


def _as_date(value) -> datetime.date:
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value)[:10])


_loads = services.orjson.loads if services.orjson is not None else json.loads


@functools.lru_cache(maxsize=4096)  # a few distinct versions, met thousands of times
def _safe_key(version: str) -> tuple[int, ...]:
    try:
        return version_key(version)
    except (ValueError, AttributeError):  # a version a school reported that is not dotted numbers
        return ()


class _Targeted:
    """Per school, the newest published, not withdrawn version of each pack targeted to it.

    Built once per dashboard from the (few) releases; schools of one region share one mapping.
    Values are (version key, version text): a school holding exactly that text needs no parsing.
    """

    def __init__(self) -> None:
        self.everyone: dict[str, tuple] = {}
        self.by_region: dict[str, dict[str, tuple]] = {}
        self.by_school: dict[str, dict[str, tuple]] = {}
        rows = PackRelease.select(PackRelease.pack_id, PackRelease.version, PackRelease.target_all,
                                  PackRelease.target_regions, PackRelease.target_schools).where(
            PackRelease.withdrawn_at.is_null())
        for row in rows:
            newest = (_safe_key(row.version), row.version)
            if row.target_all:
                self._keep(self.everyone, row.pack_id, newest)
            for region in row.target_regions or ():
                self._keep(self.by_region.setdefault(region, {}), row.pack_id, newest)
            for school_id in row.target_schools or ():
                self._keep(self.by_school.setdefault(school_id, {}), row.pack_id, newest)
        self.merged: dict[str | None, dict[str, tuple]] = {}
        self.pairs: dict[str | None, set[tuple[str, str]]] = {}

    @staticmethod
    def _keep(into: dict[str, tuple], pack_id: str, newest: tuple) -> None:
        held = into.get(pack_id)
        if held is None or held[0] < newest[0]:
            into[pack_id] = newest

    def lacking(self, school_id: str, region: str | None, installed: dict[str, str]) -> int:
        """How many targeted packs the school does not hold in their published version (or a newer one)."""
        targeted = self.merged.get(region)
        if targeted is None:
            targeted = dict(self.everyone)
            for pack_id, newest in self.by_region.get(region, {}).items():
                self._keep(targeted, pack_id, newest)
            self.merged[region] = targeted
            self.pairs[region] = {(pack_id, version) for pack_id, (_, version) in targeted.items()}
        pairs = self.pairs[region]
        extra = self.by_school.get(school_id)
        if extra:
            targeted = dict(targeted)
            for pack_id, newest in extra.items():
                self._keep(targeted, pack_id, newest)
            pairs = {(pack_id, version) for pack_id, (_, version) in targeted.items()}
        # Most schools hold exactly the published versions: a set difference finds the rest at C speed.
        missing = 0
        for pack_id, _ in pairs.difference(installed.items()):
            held = installed.get(pack_id)
            if held is None or _safe_key(held) < targeted[pack_id][0]:
                missing += 1
        return missing


def _disk(free: int | None, total: int | None) -> dict | None:
    if free is None or not total:
        return None
    percent = round(100 * free / total, 1)
    return {"free_bytes": free, "total_bytes": total, "free_percent": percent, "low": percent < LOW_DISK_PERCENT}


def dashboard_data(region: str | None = None, stale_days: int = 3, days: int = 14, page: int | None = None,
                   now: datetime.datetime | None = None) -> dict[str, Any]:
    """Every school (or the region's) with its counts; `page` (from 1) keeps per-day rows to one page.

    Without `page` every school carries its per-day counts (the JSON); with it only that page's
    schools do, and `schools` holds just that page (the HTML).
    """
    now = now or utcnow()
    today = now.date()
    day_list = [today - datetime.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    query = (School.select(School.id, School.name, School.region, School.revoked_at, School.last_contact,
                           School.agent_version, School.records_received, School.acked,
                           SchoolState.packs.cast("text"),  # parsed below, by orjson when installed
                           SchoolState.disk_free_bytes, SchoolState.disk_total_bytes, SchoolState.downloads_waiting,
                           SchoolState.downloads_bytes_left, SchoolState.state_at)
             .join(SchoolState, JOIN.LEFT_OUTER, on=(SchoolState.school == School.id))
             .order_by(School.region, School.name, School.id))
    if region:
        query = query.where(School.region == region)
    schools, stale = [], []
    stale_before = now - datetime.timedelta(days=stale_days)
    histogram = {label: 0 for label, _, _ in CONTACT_BUCKETS} | {NEVER: 0}
    as_datetime = School.last_contact.python_value  # parses SQLite's text; PostgreSQL's is a datetime already
    targeted = _Targeted()
    reported = low_disk = lacking_schools = 0
    for (school_id, name, school_region, revoked_at, last_contact, agent, received, acked, packs, disk_free,
         disk_total, waiting, bytes_left, state_at) in database.execute(query).fetchall():
        last_contact = as_datetime(last_contact)
        content_versions = disk = downloads = None
        if state_at is not None:
            reported += 1
            packs = _loads(packs) if packs else {}
            lacking = targeted.lacking(school_id, school_region, packs)
            lacking_schools += lacking > 0
            content_versions = {"packs": packs, "lacking": lacking, "reported_at": _iso(as_datetime(state_at))}
            disk = _disk(disk_free, disk_total)
            low_disk += bool(disk and disk["low"])
            downloads = {"waiting": waiting, "bytes_left": bytes_left}
        days_since = None if last_contact is None else max((now - last_contact).days, 0)
        active = revoked_at is None
        if active:
            histogram[_bucket(days_since)] += 1
        schools.append({"school_id": school_id, "name": name, "region": school_region,
                        "status": "active" if active else "revoked", "last_contact": _iso(last_contact),
                        "days_since_contact": days_since, "agent_version": agent, "records_received": received,
                        "acked": acked, "content_versions": content_versions, "disk": disk,
                        "downloads": downloads})
        if active and (last_contact is None or last_contact < stale_before):  # more than N days
            stale.append(schools[-1])
    stale.sort(key=lambda s: (s["days_since_contact"] is not None, -(s["days_since_contact"] or 0), s["school_id"]))

    pages = max(1, -(-len(schools) // PAGE_SIZE))
    shown = schools
    if page is not None:
        page = min(max(page, 1), pages)
        shown = schools[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    index = {day: position for position, day in enumerate(day_list)}
    index.update({day.isoformat(): position for position, day in enumerate(day_list)})
    counts = {s["school_id"]: [0] * days for s in shown}
    sums = [0] * days
    ids = None if page is None else list(counts)
    for school_id, day, records in _per_day(day_list[0], region, ids):
        row = counts.get(school_id)
        position = index.get(day)
        if row is not None and position is not None:
            row[position] = records
            sums[position] += records
    for school in shown:
        school["records_per_day"] = counts[school["school_id"]]
    if page is not None:  # only one page's rows were read: sum every school's in the database
        totals = _totals(day_list[0], region)
        sums = [totals.get(day, 0) for day in day_list]
    return {
        "generated_at": _iso(now), "region": region or None, "stale_days": stale_days,
        "days": [day.isoformat() for day in day_list],
        "summary": {"schools": len(schools), "active": sum(s["status"] == "active" for s in schools),
                    "stale": len(stale), "records_received": sum(s["records_received"] for s in schools),
                    "state_reported": reported, "low_disk": low_disk, "lacking_content": lacking_schools,
                    "records_per_day": sums},
        "contact_histogram": [{"days_since_contact": label, "schools": count} for label, count in histogram.items()],
        "stale_schools": [{key: s[key] for key in ("school_id", "name", "region", "last_contact",
                                                   "days_since_contact", "agent_version")} for s in stale],
        "not_reported": [] if reported else list(NOT_REPORTED),  # fields no school has sent yet
        "page": page, "pages": pages, "page_size": PAGE_SIZE if page is not None else None,
        "schools": shown,
    }


def regions() -> list[str]:
    return [r for (r,) in School.select(School.region).where(School.region.is_null(False))
            .distinct().order_by(School.region).tuples()]
