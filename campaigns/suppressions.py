"""Suppressing and unsuppressing addresses by hand (the admin's lead actions): a few
statements per BATCH addresses, however many.

Unsuppressing lifts only `manual` suppressions: an unsubscribe, a hard bounce or a
complaint was the recipient's (or their provider's) word, and sending again after it harms
deliverability and, for unsubscribes, breaks the law in most places. Such rows stay and are
counted as kept; an operator who must lift one deletes it from the suppression list.
"""

from collections.abc import Iterable
from itertools import islice

from django.db import transaction

from .models import Suppression

Reason = Suppression.Reason
BATCH = 5_000


def _batches(emails: Iterable[str]):
    emails = iter(emails)
    while batch := list(islice(emails, BATCH)):
        yield sorted({e.strip().lower() for e in batch if e})


@transaction.atomic
def suppress_emails(*, emails: Iterable[str], source: str = "admin") -> dict[str, int]:
    """Suppress every address of `emails` (reason `manual`); an address already suppressed
    keeps its first reason. Returns {"added": n, "already": m}."""
    added = already = 0
    for batch in _batches(emails):
        known = set(Suppression.objects.filter(email__in=batch).values_list("email", flat=True))
        rows = [Suppression(email=e, reason=Reason.MANUAL, source=source[:255]) for e in batch if e not in known]
        Suppression.objects.bulk_create(rows, ignore_conflicts=True)
        added += len(rows)
        already += len(known)
    return {"added": added, "already": already}


@transaction.atomic
def unsuppress_emails(*, emails: Iterable[str]) -> dict[str, int]:
    """Lift the manual suppressions of `emails`. Returns {"removed": n, "kept": m}, kept being
    the addresses suppressed for another reason (see the module docstring)."""
    removed = kept = 0
    for batch in _batches(emails):
        rows = Suppression.objects.filter(email__in=batch)
        removed += rows.filter(reason=Reason.MANUAL).delete()[0]
        kept += rows.count()
    return {"removed": removed, "kept": kept}
