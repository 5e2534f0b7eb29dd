"""ESP SMTP relays: the header each provider documents for a message's custom data (so its
webhooks carry our recipient token back as anymail `metadata`), and the provider's own id of
a message from its `250` answer to the final dot.

Which relay is in use comes from `EMAIL_RELAY` (an anymail ESP name, e.g. `sendgrid`; `none`
switches the headers off) or else from `EMAIL_HOST`'s domain. Over an anymail API backend
none of this applies: the metadata goes through anymail and the id is anymail's
`message_id` (`transport`).
"""

import json
import re

from django.conf import settings


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _each_key(prefix):
    return lambda metadata: [(f"{prefix}{key}", str(value)) for key, value in metadata.items()]


def _one(name, shape=lambda metadata: metadata):
    return lambda metadata: [(name, _json(shape(metadata)))]


# relay → (host domains, metadata → headers). Each header is the one the provider documents
# for SMTP, read back by its webhooks where anymail looks for metadata.
RELAYS = {
    "sendgrid": (("sendgrid.net",), _one("X-SMTPAPI", lambda m: {"unique_args": m})),
    "mailgun": (("mailgun.org",), _one("X-Mailgun-Variables")),
    "postmark": (("postmarkapp.com",), _each_key("X-PM-Metadata-")),
    "mailjet": (("mailjet.com",), _one("X-MJ-EventPayload")),
    "mandrill": (("mandrillapp.com",), _one("X-MC-Metadata")),
    "sparkpost": (("sparkpostmail.com",), _one("X-MSYS-API", lambda m: {"metadata": m})),
    "brevo": (("brevo.com", "sendinblue.com"), _one("X-Mailin-custom")),
    "mailtrap": (("mailtrap.io",), _one("X-MT-Custom-Variables")),
    # anymail reads X-Metadata from the original headers these providers include in events.
    "amazon_ses": (("amazonaws.com",), _one("X-Metadata")),
    "resend": (("resend.com",), _one("X-Metadata")),
    # No custom-data header over SMTP: found by the Message-ID (Postal) or by the id in the
    # relay's 250 answer (MailerSend, Unisender Go).
    "postal": ((), lambda metadata: []),
    "mailersend": (("mailersend.net",), lambda metadata: []),
    "unisender_go": (("unisender.ru",), lambda metadata: []),
}


def relay() -> str:
    """The ESP behind the SMTP host (EMAIL_RELAY, or EMAIL_HOST's domain), or "" (also when
    the backend is not SMTP)."""
    if getattr(settings, "EMAIL_BACKEND", "") != "django.core.mail.backends.smtp.EmailBackend":
        return ""
    named = (getattr(settings, "EMAIL_RELAY", "") or "").strip().lower()
    if named:
        return "" if named == "none" else named
    host = (getattr(settings, "EMAIL_HOST", "") or "").lower().rstrip(".")
    for name, (domains, _) in RELAYS.items():
        if any(host == d or host.endswith("." + d) for d in domains):
            return name
    return ""


def metadata_headers(name: str, metadata: dict) -> list:
    """The custom-data headers for relay `name` (none for an unknown one)."""
    found = RELAYS.get(name)
    return found[1](metadata) if found and metadata else []


# The provider's id in a 250 answer: "queued as <id>" (Postfix, SendGrid, MailerSend,
# Postmark …) or Amazon SES's "Ok <message id>".
_QUEUE_ID = (
    re.compile(r"queued as <?([A-Za-z0-9._@=+-]{6,200})>?", re.IGNORECASE),
    re.compile(r"^Ok ([0-9a-f]{16}-[0-9a-f-]{20,})$", re.IGNORECASE),
)


def queue_id(answer) -> str:
    """The relay's id of the message it accepted, from its answer's text, or ""."""
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer or "")
    text = text.strip()
    for pattern in _QUEUE_ID:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return ""
