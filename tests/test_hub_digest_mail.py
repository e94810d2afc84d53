"""The weekly digest by e-mail, against a real SMTP server on loopback in the test process
(tests/smtpsink.py): only operators with an address who opted in, each in their language, their scope
only, no student's name or pseudonym, once a week each; a refused address fails alone; the command and
the operator's own page set it up."""
from __future__ import annotations

import datetime
import re
import subprocess

import pytest

from sync.hub import mailer, operators
from sync.hub.models import DigestSent, Operator, utcnow
from sync.hub.settings import load_settings
from tests.hubprocess import console_script
from tests.hubtesting import hub_database_url  # noqa: F401  (fixtures)
from tests.hubworld import base_env, csrf_of, sign_in
from tests.hubworld import hub, sent, troubles, world  # noqa: F401  (fixtures)
from tests.smtpsink import SmtpSink

pytestmark = pytest.mark.slow  # a real hub and a real SMTP server on loopback


@pytest.fixture(scope="module")
def sink():
    with SmtpSink() as running:
        yield running


@pytest.fixture(scope="module")
def addresses(hub, world, troubles):
    Operator.update(language="ru").where(Operator.username == "kargaly").execute()
    operators.set_email("kargaly", "kargaly@edu.test", True)
    operators.set_email("atyrau", "atyrau@edu.test", True)
    operators.set_email("aktobe", "aktobe@edu.test", False)  # an address, but no digest wanted


def mail_settings(hub, sink):
    return load_settings(hub.data_dir, environ=hub.env).replace(mail_host="127.0.0.1", mail_port=sink.port,
                                                                mail_sender="analytics@edu.test")


def test_the_digest_goes_to_those_who_opted_in_in_their_language(hub, world, addresses, sink):
    done = mailer.send_digests(hub.app, mail_settings(hub, sink))
    assert done.sent == ["atyrau", "kargaly"] and not done.failed
    mails = {m.recipients[0]: m.message for m in sink.mailbox.received}
    assert set(mails) == {"atyrau@edu.test", "kargaly@edu.test"}
    kargaly = mails["kargaly@edu.test"]
    week = mailer.week_of(utcnow().date())
    assert kargaly["Subject"] == f"Недельная сводка, {week}: classroom-hub" and kargaly["From"] == "analytics@edu.test"
    body = kargaly.get_content()
    assert body.startswith("Недельная сводка для kargaly (район)") and "Kargaly 1" in body
    assert "Khromtau" not in body and "Inder" not in body
    assert not re.search(r"\bp-\d{3}\b", body)  # no student's pseudonym, let alone a name
    atyrau = mails["atyrau@edu.test"].get_content()
    assert "Kargaly" not in atyrau and "үшін апталық шолу" in atyrau.splitlines()[0]
    again = mailer.send_digests(hub.app, mail_settings(hub, sink))
    assert again.sent == [] and again.already == ["atyrau", "kargaly"] and len(sink.mailbox.received) == 2


def test_a_refused_address_fails_alone_and_is_tried_again(hub, world, addresses, sink):
    next_week = utcnow().date() + datetime.timedelta(days=7)
    sink.mailbox.refuse.add("kargaly@edu.test")
    before = len(sink.mailbox.received)
    done = mailer.send_digests(hub.app, mail_settings(hub, sink), today=next_week)
    assert done.sent == ["atyrau"] and set(done.failed) == {"kargaly"} and "no such mailbox" in done.failed["kargaly"]
    assert not DigestSent.select().where((DigestSent.operator == "kargaly")
                                         & (DigestSent.week == mailer.week_of(next_week))).exists()
    sink.mailbox.refuse.clear()
    done = mailer.send_digests(hub.app, mail_settings(hub, sink), today=next_week)
    assert done.sent == ["kargaly"] and done.already == ["atyrau"]
    assert len(sink.mailbox.received) == before + 2


def test_no_server_no_mail(hub, world, addresses):
    settings = load_settings(hub.data_dir, environ=hub.env)
    with pytest.raises(mailer.MailError, match=r"\[mail\] host"):
        mailer.send_digests(hub.app, settings)
    with pytest.raises(mailer.MailError, match="cannot send mail through 127.0.0.1:1"):
        mailer.send_digests(hub.app, settings.replace(mail_host="127.0.0.1", mail_port=1, mail_sender="a@b.test"),
                            today=utcnow().date() + datetime.timedelta(days=21))


def test_the_command_sends_and_says_what_it_did(hub, world, addresses, sink):
    env = {**base_env(), **hub.env, "CLASSROOM_HUB_MAIL_HOST": "127.0.0.1", "CLASSROOM_HUB_MAIL_PORT": str(sink.port),
           "CLASSROOM_HUB_MAIL_SENDER": "analytics@edu.test"}
    later = (utcnow().date() + datetime.timedelta(days=14)).isoformat()
    done = subprocess.run([console_script("classroom-hub"), "digest", "--send", "--today", later, "--user", "kargaly"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "mailed 1 digest(s)" in done.stdout
    assert sink.mailbox.received[-1].recipients == ["kargaly@edu.test"]
    neither = subprocess.run([console_script("classroom-hub"), "digest"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert neither.returncode == 2 and "--out FOLDER" in neither.stderr
    bad = subprocess.run([console_script("classroom-hub"), "user", "email", "kargaly", "--email", "not an address"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "is not an e-mail address" in bad.stderr


def test_an_operator_sets_their_address_on_their_page(hub, world, addresses):
    session = sign_in(hub, "director")
    session.cookies.set("hub_lang", "en")
    wrong = session.post(hub.url + "/ops/account", data={"email": "director at school", "digest": "yes",
                                                         "csrf": csrf_of(session, hub)}, timeout=30)
    assert wrong.status_code == 400 and "is not an e-mail address like name@example.kz" in wrong.text
    none = session.post(hub.url + "/ops/account", data={"email": "", "digest": "yes", "csrf": csrf_of(session, hub)},
                        timeout=30)
    assert none.status_code == 400 and "give an e-mail address" in none.text
    done = session.post(hub.url + "/ops/account", data={"email": "director@edu.test", "digest": "yes",
                                                        "csrf": csrf_of(session, hub)}, timeout=30)
    assert done.status_code == 200 and "Saved." in done.text
    me = Operator.get(Operator.username == "director")
    assert (me.email, me.digest_email) == ("director@edu.test", True)
    assert "director" in [o.username for o in mailer.recipients()]
