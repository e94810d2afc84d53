"""The weekly digest by e-mail: to every operator with an address who opted in, in their language,
about their scope only (the same text as `classroom-hub digest --out`: counts and school names, never a
student's name or pseudonym). Sent through the SMTP server of [mail]; each operator gets one digest a
week (digest_sent), so a pass run twice, or after a failure, sends only what is missing.
"""
from __future__ import annotations

import datetime
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import Flask
from flask_babel import force_locale, gettext
from peewee import IntegrityError

from .models import DigestSent, Operator, utcnow
from .settings import HubSettings

log = logging.getLogger(__name__)
JOB_ID = "weekly_digest"


class MailError(Exception):
    """The digests cannot be sent at all (no server set, or it refuses us); the message says what to fix."""


@dataclass
class Outcome:
    sent: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def week_of(day: datetime.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def recipients(usernames: list[str] | None = None) -> list[Operator]:
    query = (Operator.select().where(Operator.disabled_at.is_null() & Operator.digest_email
                                     & Operator.email.is_null(False) & (Operator.email != ""))
             .order_by(Operator.username))
    if usernames:
        query = query.where(Operator.username.in_(usernames))
    return list(query)


def message(app: Flask, operator: Operator, day: datetime.date, sender: str) -> EmailMessage:
    """The operator's digest as a mail, in their language."""
    from . import operator_views
    with app.test_request_context("/ops/"), force_locale(operator.language or "kk"):
        body = operator_views.digest(operator, day)
        subject = gettext("Weekly digest, %(week)s: %(hub)s", week=week_of(day), hub=app.config["HUB_NAME"])
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = operator.email
    mail["Subject"] = subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] if "@" in sender else None)
    mail["Content-Language"] = operator.language or "kk"
    mail.set_content(body)
    return mail


def _connect(settings: HubSettings) -> smtplib.SMTP:
    try:
        smtp = smtplib.SMTP(settings.mail_host, settings.mail_port, timeout=60)
        if settings.mail_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.mail_username:
            smtp.login(settings.mail_username, settings.mail_password)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"cannot send mail through {settings.mail_host}:{settings.mail_port}: {exc}. Check "
                        f"[mail] host, port, starttls, username and password") from None
    return smtp


def send_digests(app: Flask, settings: HubSettings, today: datetime.date | None = None,
                 usernames: list[str] | None = None) -> Outcome:
    """Mail this week's digest to each operator who opted in and has not had it; a refused address is
    that operator's failure only (logged, tried again next pass)."""
    if not settings.mail_host:
        raise MailError("no SMTP server: set [mail] host (CLASSROOM_HUB_MAIL_HOST) and [mail] sender")
    if not settings.mail_sender:
        raise MailError("no sender address: set [mail] sender (CLASSROOM_HUB_MAIL_SENDER)")
    day = today or utcnow().date()
    week = week_of(day)
    outcome = Outcome()
    due = []
    for operator in recipients(usernames):
        if DigestSent.select().where((DigestSent.operator == operator.username) & (DigestSent.week == week)).exists():
            outcome.already.append(operator.username)
        else:
            due.append(operator)
    if not due:
        return outcome
    smtp = _connect(settings)
    try:
        for operator in due:
            mail = message(app, operator, day, settings.mail_sender)
            try:
                smtp.send_message(mail)
            except smtplib.SMTPException as exc:
                log.warning("the digest for %s was not sent: %s", operator.username, exc)
                outcome.failed[operator.username] = str(exc)
                continue
            try:
                DigestSent.create(operator=operator.username, week=week)
            except IntegrityError:
                pass  # another pass sent it at the same moment; it is recorded
            outcome.sent.append(operator.username)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return outcome


def digest_job(app: Flask, settings: HubSettings) -> None:
    """The scheduled job (id weekly_digest): this week's digests, those not sent yet."""
    try:
        outcome = send_digests(app, settings)
    except MailError as exc:
        log.warning("weekly digest: %s", exc)
        return
    log.info("weekly digest: %d sent, %d already sent, %d failed", len(outcome.sent), len(outcome.already),
             len(outcome.failed))


def run_scheduler(app: Flask, settings: HubSettings) -> None:
    """Send the digests every week at [mail] weekday and hour (UTC), until stopped; a pass missed while the
    hub was down runs when it is back (coalesced into one)."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    scheduler = BlockingScheduler(timezone=datetime.timezone.utc,
                                  job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    trigger = CronTrigger(day_of_week=settings.mail_weekday - 1, hour=settings.mail_hour, timezone=datetime.timezone.utc)
    scheduler.add_job(digest_job, trigger, id=JOB_ID, args=[app, settings], max_instances=1, coalesce=True)
    scheduler.start()
