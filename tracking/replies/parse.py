"""An inbound message, read defensively into the facts the rest needs: its ids, the ids it
answers, sender, subject, the new text without the quoted message, whether it is an
automatic answer, and — for a delivery status notification — the bounce it reports.

Nothing here raises on bad input: a missing or broken header reads as empty, and a message
that cannot be read at all is `Unreadable` (the caller logs and skips it).
"""

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import getaddresses, parsedate_to_datetime

from django.utils import timezone
from email_reply_parser import EmailReplyParser

from campaigns.rendering import html_to_text

MAX_TEXT = 20_000
_ID = re.compile(r"<([^<>\s]{1,250})>")
# Out-of-office and other automatic subjects (English, German, French, Spanish, Dutch, Italian).
AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[\s_-]*(reply|response|answer)|out of (the )?office|ooo\b|away from|on vacation|vacation reply"
    r"|abwesenheit|automatische antwort|r[ée]ponse automatique|absence|respuesta autom[aá]tica|fuera de la oficina"
    r"|afwezig|automatisch antwoord|risposta automatica|fuori ufficio)",
    re.IGNORECASE,
)


class Unreadable(Exception):
    """The message cannot be read at all."""


@dataclass
class Bounce:
    hard: bool
    status: str
    original_message_ids: list
    final_recipients: list
    diagnostic: str = ""


@dataclass
class Inbound:
    message_id: str
    in_reply_to: list
    references: list
    from_header: str
    from_address: str
    subject: str
    to_addresses: list
    text: str
    received_at: datetime
    auto_reply: bool = False
    bounce: Bounce | None = None
    extra: dict = field(default_factory=dict)

    @property
    def answered_ids(self) -> list:
        """The Message-IDs this message answers, the most direct first: In-Reply-To, then
        References from the newest back."""
        return list(dict.fromkeys([*self.in_reply_to, *reversed(self.references)]))


def header(msg, name) -> str:
    try:
        values = msg.get_all(name) or []
        return " ".join(str(v) for v in values).replace("\r", " ").replace("\n", " ").strip()
    except Exception:  # a header the policy cannot parse reads as empty
        return ""


def ids_in(value: str) -> list:
    return [f"<{m}>" for m in _ID.findall(value or "")]


def addresses(msg, *names) -> list:
    found = []
    for name in names:
        try:
            found += [a.lower() for _, a in getaddresses([header(msg, name)]) if "@" in a]
        except Exception:
            continue
    return found


def from_bytes(raw: bytes):
    """An email.message.EmailMessage from the raw bytes (an IMAP fetch, a raw upload)."""
    try:
        return email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:
        raise Unreadable(f"not a message: {exc!r:.200}") from exc


def is_auto_reply(msg, subject: str) -> bool:
    """RFC 3834 Auto-Submitted other than "no", X-Autoreply, X-Autorespond, Precedence
    auto_reply/bulk/junk, or an out-of-office subject."""
    auto_submitted = header(msg, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if header(msg, "X-Autoreply") or header(msg, "X-Autorespond") or header(msg, "X-Autoresponder"):
        return True
    if header(msg, "Precedence").lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(AUTO_SUBJECT.match(subject or ""))


def _parts(msg):
    try:
        yield from msg.walk()
    except Exception:
        return


def delivery_status(msg) -> Bounce | None:
    """The bounce a `multipart/report; report-type=delivery-status` reports, or None."""
    try:
        if msg.get_content_type() != "multipart/report":
            return None
        if (msg.get_param("report-type") or "").lower() != "delivery-status":
            return None
    except Exception:
        return None
    statuses, finals, originals, diagnostic = [], [], [], ""
    for part in _parts(msg):
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in _status_blocks(part):
                status = header(block, "Status")
                if status:
                    statuses.append(status.split()[0])
                final = header(block, "Final-Recipient") or header(block, "Original-Recipient")
                if final:
                    finals.append(final.rpartition(";")[2].strip().strip("<>").lower())
                diagnostic = diagnostic or header(block, "Diagnostic-Code")
        elif kind == "message/rfc822":
            for enclosed in _payload_list(part):
                originals += ids_in(header(enclosed, "Message-ID"))
        elif kind == "text/rfc822-headers":
            try:
                headers = email.message_from_string(part.get_content(), policy=email.policy.default)
                originals += ids_in(header(headers, "Message-ID"))
            except Exception:
                continue
    hard = any(s.startswith("5") for s in statuses) or not statuses
    return Bounce(
        hard=hard,
        status=next((s for s in statuses if s.startswith("5")), statuses[0] if statuses else ""),
        original_message_ids=list(dict.fromkeys(originals)),
        final_recipients=list(dict.fromkeys(f for f in finals if "@" in f)),
        diagnostic=diagnostic[:1000],
    )


def _payload_list(part) -> list:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    return payload if isinstance(payload, list) else []


def _status_blocks(part) -> list:
    """The per-message and per-recipient field blocks of a message/delivery-status part
    (the email package parses them as a list of header blocks; some MTAs' text is parsed by hand)."""
    blocks = _payload_list(part)
    if blocks:
        return blocks
    try:
        text = part.get_payload(decode=True) or b""
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    except Exception:
        return []
    return [email.message_from_string(chunk, policy=email.policy.default) for chunk in re.split(r"\r?\n\r?\n", text)]


def new_text(msg, stripped: str | None = None) -> str:
    """The reply's own text: the ESP's stripped text when it gives one, else the plain part
    (or the HTML's text) with the quoted message and signature removed by email-reply-parser."""
    if stripped:
        return stripped.strip()[:MAX_TEXT]
    text = _anymail_body(msg)
    if text is None:
        text = _body_text(msg)
    text = text[: MAX_TEXT * 5]
    try:
        return EmailReplyParser.parse_reply(text).strip()[:MAX_TEXT]
    except Exception:
        return text.strip()[:MAX_TEXT]


def _body_text(msg) -> str:
    """The plain part, else the HTML part's text, else the decoded payload, else ""."""
    try:
        body = msg.get_body(("plain",))
        if body is not None:
            return body.get_content()
        html = msg.get_body(("html",))
        return html_to_text(html.get_content()) if html is not None else ""
    except Exception:
        try:
            payload = msg.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        except Exception:
            return ""


def _anymail_body(msg) -> str | None:
    """anymail's AnymailInboundMessage knows its text (or HTML) body; None for other messages."""
    try:
        text = getattr(msg, "text", None)
        if isinstance(text, str) and text.strip():
            return text
        html = getattr(msg, "html", None)
        if isinstance(html, str) and html.strip():
            return html_to_text(html)
    except Exception:
        return None
    return None


def _received_at(msg) -> datetime:
    now = timezone.now()
    try:
        sent = parsedate_to_datetime(header(msg, "Date"))
    except Exception:
        return now
    if sent is None or sent.tzinfo is None or sent > now + timedelta(minutes=5) or sent.year < 2000:
        return now
    return sent


def read(msg, *, stripped_text: str | None = None, envelope_recipient: str = "") -> Inbound:
    """The facts of `msg` (an email.message.Message, e.g. anymail's AnymailInboundMessage)."""
    if msg is None or not hasattr(msg, "get_all"):
        raise Unreadable("no message")
    subject = header(msg, "Subject")[:998]
    from_header = header(msg, "From")[:998]
    from_address = next(iter(addresses(msg, "From")), "")
    message_id = next(iter(ids_in(header(msg, "Message-ID"))), "")
    bounce = delivery_status(msg)
    text = "" if bounce else new_text(msg, stripped_text)
    if not message_id:
        # No id of its own: one made from what identifies it, so a second delivery is the same.
        basis = "\n".join([from_header, subject, header(msg, "Date"), header(msg, "In-Reply-To"), text])
        message_id = f"<{hashlib.sha256(basis.encode('utf-8', 'replace')).hexdigest()}@no-message-id.invalid>"
    return Inbound(
        message_id=message_id[:255],
        in_reply_to=ids_in(header(msg, "In-Reply-To")),
        references=ids_in(header(msg, "References")),
        from_header=from_header,
        from_address=from_address,
        subject=subject,
        to_addresses=list(
            dict.fromkeys(
                [
                    *addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"),
                    *([envelope_recipient.lower()] if envelope_recipient else []),
                ]
            )
        ),
        text=text,
        received_at=_received_at(msg),
        auto_reply=bounce is None and is_auto_reply(msg, subject),
        bounce=bounce,
    )
