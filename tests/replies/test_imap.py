"""The IMAP reply poller against a real Dovecot on loopback: replies appended over IMAP are
found, stored, then flagged; unreadable ones skipped and the poll goes on; a database
failure leaves the message for the next poll."""

import pytest
from django.db import DatabaseError
from imap_tools import MailBoxUnencrypted

from tests.replies.conftest import FIRST_ID, STEP1_ID
from tests.replies.dovecot import PASSWORD, USER
from tracking import tasks
from tracking.models import EmailTracking, Reply
from tracking.replies import imap

pytestmark = pytest.mark.django_db


def reply(
    message_id="<imap-reply-1@mail.shop.example>", in_reply_to=STEP1_ID, body="Call me tomorrow.", first=FIRST_ID
):
    return (
        "From: Shop Owner <owner@shop.example>\r\nTo: news@fliptech.example\r\nSubject: Re: An offer\r\n"
        f"Date: Mon, 30 Nov 2026 18:31:04 -0700\r\nMessage-ID: {message_id}\r\nIn-Reply-To: {in_reply_to}\r\n"
        f"References: {first} {in_reply_to}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n\r\nOn Mon, Nov 30, 2026 at 9:00 AM FlipTech <news@fliptech.example> wrote:\r\n> Hello\r\n"
    ).encode()


def append(server, *raws):
    with MailBoxUnencrypted("127.0.0.1", server.port).login(USER, PASSWORD) as box:
        for raw in raws:
            box.append(raw, "INBOX", flag_set=[])


def flags(server):
    with MailBoxUnencrypted("127.0.0.1", server.port).login(USER, PASSWORD) as box:
        return [set(m.flags) for m in box.fetch(mark_seen=False, headers_only=True)]


def test_a_reply_appended_to_the_mailbox_is_stored_then_flagged(in_sequence, dovecot, settings):
    recipient, _, step2 = in_sequence
    append(dovecot, reply())
    settings.IMAP_URL = dovecot.url
    assert tasks.poll_imap_replies.run() == {"reply": 1}
    stored = Reply.objects.get()
    assert (stored.recipient_id, stored.step, stored.text, stored.source) == (
        recipient.pk,
        1,
        "Call me tomorrow.",
        "imap",
    )
    recipient.refresh_from_db()
    step2.refresh_from_db()
    assert recipient.sequence_status == "stopped" and step2.status == "cancelled"
    assert flags(dovecot) == [{imap.PROCESSED}]  # a person reading it (\Seen) is untouched
    assert imap.poll(dovecot.url) == {}  # processed once


def test_unreadable_and_unknown_mail_is_skipped_and_the_poll_goes_on(in_sequence, dovecot):
    big = b"Subject: big\r\nMessage-ID: <big@x>\r\nContent-Type: application/pdf\r\n\r\n" + b"\r\n".join(
        [b"QUFB" * 19] * (25 * 1024 * 1024 // 78)
    )
    append(
        dovecot,
        b"\x00\xff garbage \r\n\r\n",
        b"\r\n",
        reply(message_id="<stranger@elsewhere>", in_reply_to="<never-sent@elsewhere>", first="<other@elsewhere>"),
        big,
        reply(),
    )
    outcome = imap.poll(dovecot.url)
    assert outcome.get("reply") == 1 and sum(outcome.values()) == 5, outcome
    assert Reply.objects.count() == 1
    assert all(f & {imap.PROCESSED, imap.SKIPPED} for f in flags(dovecot))
    assert imap.poll(dovecot.url) == {}


def test_the_same_message_twice_is_stored_once(in_sequence, dovecot):
    append(dovecot, reply(), reply())
    assert imap.poll(dovecot.url) == {"reply": 1, "duplicate": 1}
    assert Reply.objects.count() == 1 and EmailTracking.objects.filter(event_type="reply").count() == 1


def test_a_message_is_flagged_only_after_it_was_stored(in_sequence, dovecot, monkeypatch):
    append(dovecot, reply())

    def database_away(*args, **kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr("tracking.replies.record", database_away)
    with pytest.raises(DatabaseError):
        imap.poll(dovecot.url)
    assert flags(dovecot) == [set()] and not Reply.objects.exists()
    monkeypatch.undo()
    assert imap.poll(dovecot.url) == {"reply": 1}


def test_without_imap_url_the_task_does_nothing(settings):
    settings.IMAP_URL = ""
    assert "skipped" in tasks.poll_imap_replies.run()


@pytest.mark.parametrize("url", ["http://x/INBOX", "imaps:///INBOX", "nonsense"])
def test_a_bad_imap_url_is_refused_clearly(url):
    with pytest.raises(ValueError, match="IMAP_URL"):
        imap.ImapConfig.from_url(url)
