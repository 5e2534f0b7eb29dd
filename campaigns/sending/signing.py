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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
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


# dkimpy signs with its own pure-Python RSA: ~10 ms a message for a 2048-bit key (two
# 1024-bit pow() calls; measured by bench/deliverability.py), more than building and sending
# the message. Its one RSA step is handed to OpenSSL (cryptography) instead; canonicalisation,
# hashing and the header stay dkimpy's, and the tests verify every signature with dkimpy.
_HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


@functools.lru_cache(maxsize=8)
def _openssl_key(modulus, public_exponent, private_exponent, p, q, dmp1, dmq1, iqmp):
    public = rsa.RSAPublicNumbers(public_exponent, modulus)
    return rsa.RSAPrivateNumbers(p, q, private_exponent, dmp1, dmq1, iqmp, public).private_key()


def _rsassa_pkcs1_v1_5_sign(hash, private_key):
    key = _openssl_key(
        *(
            private_key[name]
            for name in (
                "modulus",
                "publicExponent",
                "privateExponent",
                "prime1",
                "prime2",
                "exponent1",
                "exponent2",
                "coefficient",
            )
        )
    )
    algorithm = _HASHES[hash.name]()
    return key.sign(hash.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm))


dkim.RSASSA_PKCS1_v1_5_sign = _rsassa_pkcs1_v1_5_sign  # the name dkim.DKIM.sign calls


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
