"""The checklist's DNS checks of the From domain: dkim, spf, dmarc. The three lookups run at
once (a thread each, `DNS_TIMEOUT` each, through `fliptech.resolver`). None of them is ever an
error: an unreachable DNS says nothing about the records, and the records are the sender's to
fix — a finding is a warning with what to publish.

- dkim: with DKIM_PRIVATE_KEY, `<DKIM_SELECTOR>._domainkey.<DKIM_DOMAIN or From domain>` must
  publish our key's public half (ok), else warning (missing, another key, not aligned with the
  From domain). Without a key: ok when an anymail API backend sends (the provider signs), else
  a warning (messages go out unsigned).
- spf: one `v=spf1` record on the From domain: ok; none, several (a permerror), or `+all` /
  `?all`: warning.
- dmarc: a `v=DMARC1` record at `_dmarc.<From domain>`, or else at its organisational domain
  (taken as the last two labels): ok (the policy is shown); none: warning (Gmail and Yahoo
  require one of bulk senders).
"""

import base64
import re
from concurrent.futures import ThreadPoolExecutor
from email.utils import parseaddr

from django.conf import settings

from fliptech.resolver import txt_records

from . import OK, WARNING, Check

UNREACHABLE = "DNS did not answer in time ({name}); not checked."


def from_domain(campaign) -> str:
    return parseaddr(campaign.from_email or settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()


def _tags(record: str) -> dict:
    out = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip().lower()] = re.sub(r"\s+", "", value.strip())
    return out


def _our_public_key() -> bytes | None:
    from cryptography.hazmat.primitives import serialization

    from ..sending.signing import _load_key

    try:
        key = serialization.load_pem_private_key(_load_key(settings.DKIM_PRIVATE_KEY), password=None)
    except Exception:  # the start already refused a key dkimpy cannot parse
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def dkim_check(domain: str) -> Check:
    from ..sending.signing import configured

    if not configured():
        if settings.EMAIL_BACKEND.startswith("anymail."):
            return Check("dkim", OK, "Messages are handed to the provider's API, which signs them (DKIM).")
        return Check("dkim", WARNING, "Messages are not DKIM-signed: set DKIM_PRIVATE_KEY and DKIM_SELECTOR.")
    signing_domain = (settings.DKIM_DOMAIN or domain).lower()
    name = f"{settings.DKIM_SELECTOR}._domainkey.{signing_domain}"
    records = txt_records(name)
    if records is None:
        return Check("dkim", WARNING, UNREACHABLE.format(name=name))
    keys = [_tags(r).get("p", "") for r in records if "p=" in r]
    if not keys:
        return Check("dkim", WARNING, f"No DKIM record at {name}: publish the one `manage.py dkim_keygen` printed.")
    ours = _our_public_key()
    try:
        published = [base64.b64decode(k) for k in keys]
    except ValueError:
        published = []
    if ours is not None and ours not in published:
        return Check("dkim", WARNING, f"The DKIM record at {name} is not our key's: signatures will not verify.")
    if not (domain == signing_domain or domain.endswith("." + signing_domain)):
        return Check("dkim", WARNING, f"DKIM signs as {signing_domain}, not aligned with the From domain {domain}.")
    return Check("dkim", OK, f"DKIM record found at {name}, matching the signing key.")


def spf_check(domain: str) -> Check:
    records = txt_records(domain)
    if records is None:
        return Check("spf", WARNING, UNREACHABLE.format(name=domain))
    spf = [r for r in records if r.lower().startswith("v=spf1")]
    if not spf:
        return Check("spf", WARNING, f"No SPF record on {domain}: publish one naming your mail servers.")
    if len(spf) > 1:
        return Check("spf", WARNING, f"{domain} has {len(spf)} SPF records: receivers treat that as an error.")
    terms = spf[0].lower().split()
    if "+all" in terms or "all" in terms or "?all" in terms:
        return Check("spf", WARNING, f"The SPF record of {domain} lets anyone send ({spf[0]}).")
    return Check("spf", OK, f"SPF: {spf[0]}")


def dmarc_check(domain: str) -> Check:
    names = [f"_dmarc.{domain}"]
    labels = domain.split(".")
    if len(labels) > 2:
        names.append("_dmarc." + ".".join(labels[-2:]))
    for name in names:
        records = txt_records(name)
        if records is None:
            return Check("dmarc", WARNING, UNREACHABLE.format(name=name))
        dmarc = [r for r in records if r.replace(" ", "").lower().startswith("v=dmarc1")]
        if len(dmarc) > 1:
            return Check("dmarc", WARNING, f"{name} has {len(dmarc)} DMARC records: receivers ignore them all.")
        if dmarc:
            policy = _tags(dmarc[0]).get("p", "")
            if policy not in ("none", "quarantine", "reject"):
                return Check("dmarc", WARNING, f"The DMARC record at {name} has no valid policy (p=).")
            return Check("dmarc", OK, f"DMARC at {name}: p={policy}.")
    return Check(
        "dmarc",
        WARNING,
        f"No DMARC record for {domain}: Gmail and Yahoo require one of bulk senders (_dmarc.{domain}).",
    )


def checks(campaign) -> dict:
    domain = from_domain(campaign)
    if not domain:
        missing = Check("dkim", WARNING, "No From address: DNS not checked.")
        return {code: Check(code, WARNING, missing.message) for code in ("dkim", "spf", "dmarc")}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            code: pool.submit(fn, domain)
            for code, fn in (("dkim", dkim_check), ("spf", spf_check), ("dmarc", dmarc_check))
        }
        return {code: future.result() for code, future in futures.items()}
