"""The Store: every statement the engine runs on recipient rows — claims and leases, the
start, the sent and failed marks — and nothing else (the engine's narrow boundary to the
database, like listmonk's manager.Store).

- **Claim** (`claim_batch`): pending rows — and queued rows whose lease expired before their
  message started — become `queued` with `claimed_at`, `lease_expires_at` and a
  `message_id`, in one short transaction (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL,
  so concurrent senders never take the same row; SQLite serialises writers, so the same
  statements are a plain conditional claim there). A Message-ID once given is kept.
- **Start** (`start`): right before its message goes to the server, one conditional UPDATE
  stamps `sent_at` *only if* the row is still ours (queued, not started), the campaign is
  still running and the address is not suppressed. The same conditions are written once
  more in Python (`why_not`), to say why a start was refused; a test runs both on the same
  cases.
- **Sent** (`mark_sent`, `mark_sent_and_start`): `status = sent`, committed right after the
  server accepted the message.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, F, Q, Value, When
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from ..models import Campaign, CampaignRecipient, Suppression
from .mime import message_id_domain

R = CampaignRecipient.Status
RUNNING = Campaign.Status.RUNNING


def setting(name, default):
    return getattr(settings, name, default)


# --- Claims and leases ------------------------------------------------------------------------


def claim_batch(*, campaign, size: int) -> list:
    """Claim up to `size` recipients of `campaign` for this sender; their rows, with leads.

    Every claimed row gets a Message-ID now (kept if it already had one), so the id is in
    the database before the message exists and a provider's webhook can always find it.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.SEND_LEASE_SECONDS)
    claimable = Q(status=R.PENDING) | Q(status=R.QUEUED, lease_expires_at__lt=now, sent_at__isnull=True)
    suffix = f".{secrets.token_hex(8)}@{message_id_domain(campaign)}>"
    with transaction.atomic():
        ids = list(
            CampaignRecipient.objects.filter(claimable, campaign_id=campaign.pk)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return []
        CampaignRecipient.objects.filter(pk__in=ids).update(
            status=R.QUEUED,
            claimed_at=now,
            lease_expires_at=lease,
            updated_at=now,
            message_id=Case(
                When(message_id="", then=Concat(Value("<"), Cast("pk", CharField()), Value(suffix))),
                default=F("message_id"),
            ),
        )
        return list(CampaignRecipient.objects.filter(pk__in=ids, claimed_at=now).select_related("lead").order_by("pk"))


def release(ids) -> int:
    """Give claimed rows whose message did not start back to `pending`."""
    if not ids:
        return 0
    return CampaignRecipient.objects.filter(pk__in=list(ids), status=R.QUEUED, sent_at__isnull=True).update(
        status=R.PENDING, claimed_at=None, lease_expires_at=None, updated_at=timezone.now()
    )


def renew_leases(ids) -> None:
    now = timezone.now()
    CampaignRecipient.objects.filter(pk__in=list(ids), status=R.QUEUED).update(
        lease_expires_at=now + timedelta(seconds=settings.SEND_LEASE_SECONDS)
    )


# --- Per message ----------------------------------------------------------------------------

# The per-message statements, as plain SQL (the ORM spent more time building them than the
# database took to run them). Written for PostgreSQL and SQLite alike; every status is a
# parameter or comes from the models' constants.
_RECIPIENTS = CampaignRecipient._meta.db_table
# A row may start when it is ours and unstarted, its campaign runs and its address is not
# suppressed. Python's version of the same rule: `why_not`.
_STARTABLE = (
    f"status = '{R.QUEUED}' AND sent_at IS NULL"
    f" AND EXISTS (SELECT 1 FROM {Campaign._meta.db_table} c"
    f" WHERE c.id = %(campaign)s AND c.status = %(running)s)"
    f" AND NOT EXISTS (SELECT 1 FROM {Suppression._meta.db_table} s"
    f" WHERE s.email = LOWER({_RECIPIENTS}.email_address))"
)
_START_SQL = f"UPDATE {_RECIPIENTS} SET sent_at = %(now)s, updated_at = %(now)s WHERE id = %(start)s AND {_STARTABLE}"
_SENT_SQL = (
    f"UPDATE {_RECIPIENTS} SET status = '{R.SENT}', sent_at = %(now)s, updated_at = %(now)s,"
    f" lease_expires_at = NULL, error_message = '' WHERE id = %(sent)s AND status = '{R.QUEUED}'"
)
_SENT_AND_START_SQL = (
    f"UPDATE {_RECIPIENTS} SET"
    f" status = CASE WHEN id = %(sent)s THEN '{R.SENT}' ELSE status END,"
    f" lease_expires_at = CASE WHEN id = %(sent)s THEN NULL ELSE lease_expires_at END,"
    f" error_message = CASE WHEN id = %(sent)s THEN '' ELSE error_message END,"
    f" sent_at = %(now)s, updated_at = %(now)s"
    f" WHERE (id = %(sent)s AND status = '{R.QUEUED}')"
    f" OR (id = %(start)s AND {_STARTABLE})"
    f" RETURNING id"
)


def _stamp(now=None):
    return connection.ops.adapt_datetimefield_value(now or timezone.now())


def start(rid: int, campaign_id: int, now=None) -> bool:
    """The in-flight marker: stamp `sent_at` iff the row is ours, the campaign runs and the
    address is not suppressed. True → go ahead; False → find out why (`why_not`)."""
    with connection.cursor() as cursor:
        cursor.execute(_START_SQL, {"now": _stamp(now), "start": rid, "campaign": campaign_id, "running": RUNNING})
        return cursor.rowcount == 1


def mark_sent(rid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_SENT_SQL, {"now": _stamp(), "sent": rid})


def mark_sent_and_start(sent_id: int, next_id: int, campaign_id: int) -> bool:
    """`mark_sent(sent_id)` and `start(next_id)` as one statement (PostgreSQL): one round
    trip, one plan, one run of the recipient table's statement triggers. True when
    `next_id` was started."""
    params = {"sent": sent_id, "start": next_id, "campaign": campaign_id, "running": RUNNING, "now": _stamp()}
    with connection.cursor() as cursor:
        cursor.execute(_SENT_AND_START_SQL, params)
        return any(row[0] == next_id for row in cursor.fetchall())


def unstart(rid) -> None:
    """Undo a start whose message was never handed to the server."""
    if rid is not None:
        CampaignRecipient.objects.filter(pk=rid, status=R.QUEUED).update(sent_at=None)


def start_refusal(recipient, campaign_id) -> tuple[str, str]:
    """Python's version of `_STARTABLE`: ("", "") when the row may start, else (why,
    suppression reason) with why "stopped" (campaign not running), "suppressed" or "gone"
    (no longer our unstarted row)."""
    if not Campaign.all_objects.filter(pk=campaign_id, status=RUNNING).exists():
        return "stopped", ""
    reason = Suppression.objects.filter(email=recipient.email_address.lower()).values_list("reason", flat=True).first()
    if reason is not None:
        return "suppressed", reason
    if not CampaignRecipient.objects.filter(pk=recipient.pk, status=R.QUEUED, sent_at__isnull=True).exists():
        return "gone", ""
    return "", ""


def why_not(recipient, campaign_id) -> str:
    """After `start` refused: "stopped" (campaign not running), "suppressed" (marked failed
    here) or "gone" (no longer our row)."""
    why, reason = start_refusal(recipient, campaign_id)
    if why == "suppressed":
        mark_failed(recipient.pk, f"suppressed: {reason}")
    return why or "gone"


def mark_failed(rid: int, reason: str) -> None:
    CampaignRecipient.objects.filter(pk=rid, status__in=[R.QUEUED, R.PENDING]).update(
        status=R.FAILED,
        sent_at=None,
        lease_expires_at=None,
        error_message=reason[:1000],
        updated_at=timezone.now(),
    )


def mark_transient(recipient, reason: str) -> None:
    """The server did not take it: pending again, or failed after SEND_MAX_ATTEMPTS."""
    attempts = recipient.attempts + 1
    if attempts >= setting("SEND_MAX_ATTEMPTS", 5):
        mark_failed(recipient.pk, f"gave up after {attempts} attempts: {reason}")
        return
    CampaignRecipient.objects.filter(pk=recipient.pk, status=R.QUEUED).update(
        status=R.PENDING,
        sent_at=None,
        claimed_at=None,
        lease_expires_at=None,
        attempts=attempts,
        error_message=reason[:1000],
        updated_at=timezone.now(),
    )


def fast_commits(on: bool) -> None:
    """PostgreSQL: the sender's per-message commits do not wait for the WAL flush
    (`synchronous_commit = off`) when SEND_ASYNC_COMMIT is set. They are visible to every
    other session at once, which is all the exactly-once protocol needs against a dying
    *worker*; only a crash of the database server itself within ~0.6 s could lose the
    latest marks (docs/sending.md)."""
    if connection.vendor != "postgresql" or not getattr(settings, "SEND_ASYNC_COMMIT", False):
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF" if on else "RESET synchronous_commit")
