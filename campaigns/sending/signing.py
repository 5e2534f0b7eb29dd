"""DKIM: every message built here (SMTP, the file backend) is signed with dkimpy when
`DKIM_PRIVATE_KEY` (PEM text, or a file path) and `DKIM_SELECTOR` are set — relaxed/relaxed,
`d=` `DKIM_DOMAIN` or else the From address's domain. Messages handed to an anymail API
backend are signed by the provider. `manage.py dkim_keygen` makes the key and its DNS record.
"""

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import dkim
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

# The contract's list (From, To, Subject, Date, Message-ID, List-Unsubscribe,
# List-Unsubscribe-Post, the MIME headers) plus Reply-To, List-Id and Feedback-ID, which
# Gmail wants signed. A header named but absent is signed as absent: it cannot be added later.
SIGNED_HEADERS = tuple(
    h.encode()
    for h in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Reply-To",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "List-Id",
        "Feedback-ID",
        "MIME-Version",
        "Content-Type",
    )
)


@dataclass(frozen=True)
class Signer:
    selector: bytes
    domain: bytes
    key: bytes

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header first."""
        header = dkim.sign(
            message,
            self.selector,
            self.domain,
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
        return header + message


@functools.lru_cache(maxsize=4)
def _load_key(value: str) -> bytes:
    text = value.strip()
    if "-----BEGIN" not in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ImproperlyConfigured(f"DKIM_PRIVATE_KEY: no PEM text and no such file: {text[:200]}")
        text = path.read_text().strip()
    text = text.replace("\\n", "\n").replace("\r\n", "\n")  # a PEM squeezed into one env line
    try:
        dkim.crypto.parse_pem_private_key(text.encode())
    except dkim.crypto.UnparsableKeyError as exc:
        raise ImproperlyConfigured(f"DKIM_PRIVATE_KEY is not an RSA private key (PKCS#1 PEM): {exc}") from exc
    return text.encode() + b"\n"


def configured() -> bool:
    return bool(getattr(settings, "DKIM_PRIVATE_KEY", "") and getattr(settings, "DKIM_SELECTOR", ""))


def signer_for(from_domain: str) -> Signer | None:
    """The signer for messages from `from_domain`, or None when DKIM is not configured."""
    if not configured():
        return None
    domain = getattr(settings, "DKIM_DOMAIN", "") or from_domain
    return Signer(
        selector=settings.DKIM_SELECTOR.encode(),
        domain=domain.lower().encode("idna"),
        key=_load_key(settings.DKIM_PRIVATE_KEY),
    )
