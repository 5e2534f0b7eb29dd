"""`manage.py dkim_keygen [--selector S] [--domain D] [--bits N]`: a new RSA key for DKIM
and the DNS TXT record to publish. Prints the key (PKCS#1 PEM, for DKIM_PRIVATE_KEY) and the
record; stores nothing."""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def keypair(bits: int) -> tuple[str, str]:
    """(private key as PKCS#1 PEM, public key as base64 DER for the p= tag)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(public).decode()


def txt_record(public: str) -> str:
    return f"v=DKIM1; k=rsa; p={public}"


def zone_strings(text: str) -> str:
    """A TXT value as a zone file writes it: quoted strings of at most 255 characters."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


class Command(BaseCommand):
    help = "Print a new DKIM private key (for DKIM_PRIVATE_KEY) and the DNS TXT record to publish."

    def add_arguments(self, parser):
        parser.add_argument("--selector", default=settings.DKIM_SELECTOR or "fliptech")
        parser.add_argument("--domain", default=settings.DKIM_DOMAIN or "")
        parser.add_argument("--bits", type=int, default=2048)

    def handle(self, *args, selector, domain, bits, **options):
        if bits not in (1024, 2048, 3072, 4096):
            raise CommandError("--bits must be 1024, 2048, 3072 or 4096 (2048 is what mailbox providers expect).")
        if not domain:
            domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "example.com"
        private, public = keypair(bits)
        name = f"{selector}._domainkey.{domain}"
        self.stdout.write(private)
        self.stdout.write(f"{name}. 3600 IN TXT {zone_strings(txt_record(public))}")
        self.stdout.write(
            f"# then set DKIM_SELECTOR={selector} DKIM_DOMAIN={domain} and DKIM_PRIVATE_KEY to the key above"
        )
