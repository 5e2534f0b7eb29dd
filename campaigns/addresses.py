"""What a lead's address is worth: its `email_status` (CONTRACT.md, Deliverability), decided
here and nowhere else.

- `invalid`: the address cannot receive mail: its domain has no mail server (no MX, nor the
  A/AAAA fallback of RFC 5321, or a null MX) — looked up only with `EMAIL_CHECK_MX=1` —, or
  (leads stored before the check existed) its syntax is bad.
- `risky`: mail may arrive but hurts: a role account (`info@`, `sales@`, … — `ROLE_ACCOUNTS`,
  compared without a `+tag`) or a disposable domain (the `disposable-email-domains` package's
  list, a parent domain counting too: `x.mailinator.com`).
- `unknown`: the MX lookup could not answer (timeout, no nameserver reachable) — the address is
  neither refused nor vouched for; and the column's default for rows written outside the
  lead writers (raw SQL).
- `valid`: none of the above.

Syntax is checked with email-validator (`email_syntax_problem`, no DNS) when a lead is written:
an address it refuses is not stored at all. The MX lookup (email-validator's deliverability
check through `fliptech.resolver`, `DNS_TIMEOUT` per lookup) is remembered per domain in the
process for `MX_CACHE_SECONDS`, so an import asks once per domain.
"""

import threading
import time

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django.conf import settings
from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email

VALID, RISKY, INVALID, UNKNOWN = "valid", "risky", "invalid", "unknown"

# Mailboxes of a function rather than a person: shared, rarely the buyer, often a complaint.
ROLE_ACCOUNTS = frozenset(
    """
    abuse accounting accounts admin administrator all billing booking bookings careers compliance
    contact contactus customercare customerservice devnull dns do-not-reply donotreply enquiries
    enquiry everyone feedback finance ftp hello help helpdesk hostmaster hr info information
    inquiries inquiry invoice invoices it jobs legal list list-request lists mail mailer-daemon
    marketing media news newsletter no-reply noc noreply nospam null office orders postmaster
    press privacy recruiting recruitment reservations root sales security service services spam
    staff support sysadmin team tech undisclosed-recipients unsubscribe usenet uucp web webmaster
    welcome www
    """.split()
)

MX_CACHE_SECONDS = 3600
_MX_CACHE_MAX = 50_000
_mx_cache: dict[str, tuple[float, str]] = {}
_mx_lock = threading.Lock()


def _parts(email: str) -> tuple[str, str]:
    local, _, domain = email.strip().lower().rpartition("@")
    return local, domain


def is_role(email: str) -> bool:
    local, _ = _parts(email)
    return local.partition("+")[0] in ROLE_ACCOUNTS


def is_disposable(email: str) -> bool:
    _, domain = _parts(email)
    labels = domain.split(".")
    return any(".".join(labels[i:]) in DISPOSABLE_DOMAINS for i in range(len(labels) - 1))


def email_syntax_problem(email: str) -> str | None:
    """Why email-validator refuses the address's syntax (no DNS), or None. Special-use
    domains (`.test`, `.example`, …) are accepted: they are syntax, not deliverability."""
    try:
        validate_email(email, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def _mx_status(domain: str) -> str:
    """VALID when the domain accepts mail, INVALID when DNS says it does not, UNKNOWN when DNS
    could not say (email-validator reports a timeout or no nameserver as "unknown")."""
    from fliptech.resolver import resolver

    now = time.monotonic()
    with _mx_lock:
        hit = _mx_cache.get(domain)
    if hit and hit[0] > now:
        return hit[1]
    try:
        info = validate_email(
            "postmaster@" + domain, check_deliverability=True, globally_deliverable=False, dns_resolver=resolver()
        )
        status = UNKNOWN if getattr(info, "mx", None) is None else VALID
    except EmailUndeliverableError:
        status = INVALID
    except EmailNotValidError:
        status = INVALID
    with _mx_lock:
        if len(_mx_cache) >= _MX_CACHE_MAX:
            _mx_cache.clear()
        _mx_cache[domain] = (now + MX_CACHE_SECONDS, status)
    return status


def address_status(email: str, *, check_mx: bool | None = None) -> str:
    """The `email_status` of `email` (lower-cased, syntax already checked by the caller).
    `check_mx` defaults to the setting EMAIL_CHECK_MX."""
    if check_mx is None:
        check_mx = settings.EMAIL_CHECK_MX
    status = RISKY if is_role(email) or is_disposable(email) else VALID
    if check_mx:
        mx = _mx_status(_parts(email)[1])
        if mx != VALID:
            return mx
    return status


def stored_status(email: str, *, check_mx: bool | None = None) -> str:
    """`email_status` of an address whose syntax was not checked (Lead.save, the migration's
    backfill with `check_mx=False`): bad syntax is INVALID, then as `address_status`."""
    email = email.strip().lower()
    if "@" not in email or email_syntax_problem(email):
        return INVALID
    return address_status(email, check_mx=check_mx)
