"""Inbound mail: replies, automatic replies and delivery status notifications, from
django-anymail's inbound webhooks (`webhook`) and an IMAP mailbox (`imap`), through one path:
`receive` = read (`parse`) → find the recipient and step (`match`) → store (`record`).
See docs/replies.md.
"""

import logging

from .match import match
from .parse import Unreadable, read
from .record import record

log = logging.getLogger(__name__)


def receive(msg, *, source: str, stripped_text: str | None = None, envelope_recipient: str = "") -> str:
    """Process one inbound message (an email.message.Message). Returns what it was ("reply",
    "auto_reply", "bounce", "duplicate", "unmatched" or "unreadable"). Bad input never
    raises; a database error does (so the caller does not acknowledge the message)."""
    try:
        inbound = read(msg, stripped_text=stripped_text, envelope_recipient=envelope_recipient)
    except Unreadable as exc:
        log.warning("inbound message from %s unreadable, skipped: %s", source, exc)
        return "unreadable"
    return record(inbound, match(inbound), source=source)


__all__ = ["receive"]
