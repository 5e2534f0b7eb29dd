"""The IMAP reply poller (beat, every minute, when `IMAP_URL` is set): every message of the
mailbox not yet flagged is processed through `replies.receive`, then flagged — only after
it was stored, so a crash or a database outage leaves it to the next poll. A message that
cannot be read is logged, flagged apart and skipped: it never stops the poller.

`IMAP_URL`: `imaps://user:password@host[:993]/Folder` (TLS), `imap+starttls://…[:143]`,
`imap://…[:143]` (plain, for loopback). The folder defaults to INBOX; user and password are
URL-encoded. The flags are IMAP keywords (`$FliptechProcessed`, `$FliptechSkipped`), so a
person reading the mailbox (`\\Seen`) changes nothing.
"""

import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import DatabaseError
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.message import MailMessage

from . import receive
from .parse import Unreadable, from_bytes

log = logging.getLogger(__name__)
PROCESSED = "$FliptechProcessed"
SKIPPED = "$FliptechSkipped"
CRITERIA = f"UNKEYWORD {PROCESSED} UNKEYWORD {SKIPPED}"


@dataclass
class ImapConfig:
    box: type
    host: str
    port: int
    user: str
    password: str
    folder: str

    @classmethod
    def from_url(cls, url: str) -> "ImapConfig":
        parts = urlsplit(url)
        kinds = {"imaps": (MailBox, 993), "imap+starttls": (MailBoxStartTls, 143), "imap": (MailBoxUnencrypted, 143)}
        if parts.scheme not in kinds or not parts.hostname:
            raise ValueError("IMAP_URL must look like imaps://user:password@host/INBOX")
        box, port = kinds[parts.scheme]
        return cls(
            box=box,
            host=parts.hostname,
            port=parts.port or port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )


class RawMessage(MailMessage):
    """imap-tools' message, keeping the raw bytes and parsing nothing up front (a message
    the email package cannot read must not stop the fetch)."""

    def __init__(self, fetch_data: list) -> None:
        raw, raw_uid, raw_flags = self._get_message_data_parts(fetch_data)
        self.raw = raw
        self._raw_uid_data, self._raw_flag_data = raw_uid, raw_flags
        self.obj = None


def poll(url: str | None = None, *, limit: int = 500, timeout: float = 30) -> dict:
    """Process up to `limit` unflagged messages; returns the count of each outcome. Raises
    on a database error (the messages stay unflagged) or when the server cannot be reached."""
    config = ImapConfig.from_url(url or settings.IMAP_URL)
    counts: dict = {}
    box = config.box(config.host, config.port, timeout=timeout)
    box.email_message_class = RawMessage
    with box.login(config.user, config.password, initial_folder=config.folder) as mailbox:
        for uid in mailbox.uids(CRITERIA)[:limit]:
            outcome = _one(mailbox, uid)
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _one(mailbox, uid: str) -> str:
    try:
        fetched = list(mailbox.fetch(uid_list=[uid], mark_seen=False, bulk=False))
        if not fetched:
            return "gone"
        outcome = receive(from_bytes(fetched[0].raw), source="imap")
    except DatabaseError:
        raise  # not flagged: the next poll tries again
    except (Unreadable, Exception) as exc:  # a message we cannot read: skipped, the poll goes on
        log.warning("IMAP message %s unreadable, skipped and flagged %s: %r", uid, SKIPPED, exc)
        mailbox.flag([uid], SKIPPED, True)
        return "unreadable"
    mailbox.flag([uid], SKIPPED if outcome == "unreadable" else PROCESSED, True)
    return outcome
