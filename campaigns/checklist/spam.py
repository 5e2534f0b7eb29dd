"""The checklist's spam_score: the message as the first recipient gets it (built by the
sender's own MIME code, with the List-Unsubscribe, List-Id and Feedback-ID headers), scored by
SpamAssassin's spamd over TCP (`SPAMD_URL`, e.g. `tcp://127.0.0.1:783`; the spamc protocol,
SYMBOLS command, `SPAMD_TIMEOUT`).

Levels: error when spamd calls it spam (score ≥ its required score, 5 by default), warning from
half of that, else ok — with the score and the rules that fired. Unset SPAMD_URL: ok "not
checked" (CONTRACT.md). spamd unreachable or answering nonsense: warning (the message was not
judged; it is not blocked for that).
"""

import re
import socket
from dataclasses import replace
from urllib.parse import urlsplit

from django.conf import settings

from . import ERROR, OK, WARNING, Check

_SPAM = re.compile(rb"^Spam:\s*(\w+)\s*;\s*(-?[\d.]+)\s*/\s*(-?[\d.]+)", re.MULTILINE | re.IGNORECASE)


class SpamdError(Exception):
    pass


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "//" in url else "tcp://" + url)
    return parts.hostname or "127.0.0.1", parts.port or 783


def score(message: bytes, *, url: str | None = None, timeout: float | None = None) -> tuple[float, float, list[str]]:
    """(score, required score, rules that fired) of `message` (RFC 5322 bytes) from spamd."""
    host, port = _address(url or settings.SPAMD_URL)
    request = b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(message) + message
    chunks = []
    try:
        with socket.create_connection((host, port), timeout=timeout or settings.SPAMD_TIMEOUT) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise SpamdError(f"spamd at {host}:{port} did not answer ({exc})") from exc
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"SPAMD/") or status[1] != b"0":
        raise SpamdError(f"spamd at {host}:{port} refused the message ({head[:200].decode('latin-1')})")
    found = _SPAM.search(head)
    if not found:
        raise SpamdError(f"spamd at {host}:{port} gave no score")
    rules = [r.strip() for r in body.decode("latin-1").split(",") if r.strip()]
    return float(found[2]), float(found[3]), rules


def message_for(campaign, parts) -> bytes:
    """The first recipient's message as the sender would build it (unsigned: spamd runs
    here without DNS of our own domain's key)."""
    from ..sending.mime import Outgoing, Sender, build_mime, list_headers, list_unsubscribe_headers, message_id_domain

    out = Outgoing(
        recipient_id=0,
        token="preview",
        to="recipient@example.com",
        message_id=f"<checklist.{campaign.pk}@{message_id_domain(campaign)}>",
        subject=parts["subject"],
        html=parts["html"],
        text=parts["text"],
        headers=[*list_unsubscribe_headers("preview"), *list_headers(campaign)],
    )
    return build_mime(out, replace(Sender.for_campaign(campaign), signer=None))


def check(campaign, parts) -> Check:
    if not settings.SPAMD_URL:
        return Check("spam_score", OK, "Not checked (SPAMD_URL is not set).")
    if parts is None:
        return Check("spam_score", WARNING, "Not checked: the template does not render.")
    try:
        value, required, rules = score(message_for(campaign, parts))
    except SpamdError as exc:
        return Check("spam_score", WARNING, f"Not checked: {exc}.")
    shown = ", ".join(rules[:12]) or "none"
    text = f"SpamAssassin score {value:g} (spam from {required:g}); rules: {shown}."
    if value >= required:
        return Check("spam_score", ERROR, text)
    if value >= required / 2:
        return Check("spam_score", WARNING, text)
    return Check("spam_score", OK, text)
