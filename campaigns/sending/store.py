"""The Store: every statement the engine runs on recipient rows — claims and leases, the
start, the sent and failed marks — and nothing else (the engine's narrow boundary to the
database, like listmonk's manager.Store).

- **Claim** (`claim_batch`): pending rows that are due (`not_before`, the backoff after a
  transient refusal) — and queued rows whose lease expired before their message was handed
  over — become `queued` with `claimed_at`, `lease_expires_at` and a
  `message_id`, in one short transaction (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL,
  so concurrent senders never take the same row; SQLite serialises writers, so the same
  statements are a plain conditional claim there). A Message-ID once given is kept.
- **Start** (`start`): right before its message's data goes to the server, one conditional
  UPDATE stamps `sent_at` and the in-flight mark `handed_at` *only if* the row is still ours
  (queued, not handed over), the campaign is still running and the address is not
  suppressed. The same conditions are written once
  more in Python (`why_not`), to say why a start was refused; a test runs both on the same
  cases.
- **Sent** (`mark_sent`, `mark_sent_and_start`): `status = sent`, committed right after the
  server accepted the message.

Every mark written after a message was handed over (`mark_sent`, `mark_failed`,
`mark_transient`) and every give-back (`release`, `unstart`) is `durable`: a database error
(a dropped connection, a restart) is retried on a new connection for up to
SEND_DB_RETRY_SECONDS, so what the server accepted is recorded `sent` once the database is
back — never reported failed or interrupted.
"""

import functools
import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, CharField, F, Q, Value, When
from django.db.models.functions import Cast, Coalesce, Concat
from django.db.models.lookups import Exact, In
from django.utils import timezone

from .. import bounces, states
from ..models import Campaign, CampaignRecipient, Suppression
from ..models.recipients import EMAIL_DOMAIN
from .mime import message_id_domain

log = logging.getLogger(__name__)
R = CampaignRecipient.Status
RUNNING = states.SENDING  # the status a campaign sends in (campaigns.states)
INTERRUPTED = (
    "interrupted: the sender stopped after handing this message to the mail server; it may "
    "have been delivered, so it is not sent again"
)


def setting(name, default):
    return getattr(settings, name, default)


def backoff(n: int) -> float:
    """Seconds to wait after the (n+1)-th transient failure in a row: SEND_RETRY_BACKOFF_SECONDS
    × 2^n, at most 10 minutes (10, 20, 40, 80, … with the default 10)."""
    return min(600.0, setting("SEND_RETRY_BACKOFF_SECONDS", 10) * (2**n))


def durable(fn):
    """Run `fn` until the database answers: on a database error the connection is closed
    and the call retried on a new one (0.2 s, 0.4 s, … ≤ 5 s apart) for up to
    SEND_DB_RETRY_SECONDS (300), then the error is raised. For statements that must not be
    lost; each is idempotent."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        deadline = time.monotonic() + setting("SEND_DB_RETRY_SECONDS", 300)
        pause = 0.2
        while True:
            try:
                return fn(*args, **kwargs)
            except DatabaseError as exc:
                if connection.in_atomic_block or time.monotonic() > deadline:
                    raise
                log.warning("%s: database error (%s), retrying in %.1fs", fn.__name__, exc, pause)
                connection.close()
                time.sleep(pause)
                pause = min(5.0, pause * 2)

    return run


# --- Claims and leases ------------------------------------------------------------------------


def lock_claimable(model, campaign_id: int, claimables, size: int) -> list:
    """Ids of up to `size` rows of `model` in the campaign, locked for this transaction
    (SKIP LOCKED: other senders take other rows), from each `(condition, order[, at most])`
    in turn."""
    ids = []
    for claimable, order, *most in claimables:
        want = min([size - len(ids), *most])
        if want <= 0:
            continue
        ids += (
            model.objects.filter(claimable, campaign_id=campaign_id)
            .order_by(order)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:want]
        )
        if len(ids) >= size:
            break
    return ids


def message_id_or_new(prefix: str, suffix: str):
    """The row's Message-ID, or a new one `<prefix><pk><suffix>` when it has none (kept
    across claims, so a provider's webhook always finds the row)."""
    return Case(
        When(message_id="", then=Concat(Value(prefix), Cast("pk", CharField()), Value(suffix))),
        default=F("message_id"),
    )


def claim_batch(*, campaign, size: int, quotas=None, held_back=None) -> list:
    """Claim up to `size` recipients of `campaign` for this sender; their rows, with leads.

    Pending rows that are due come first, lowest id first (the `recipient_claim` index, no
    sort); then queued rows whose lease expired before their message was handed over. Every
    claimed row gets a Message-ID now (kept if it already had one), so the id is in the
    database before the message exists and a provider's webhook can always find it.

    `quotas` ({capped domain: n}, SEND_DOMAIN_RATES): at most n due rows of each such domain
    (none at 0), lowest id first through `recipient_claim_domain`, then the other domains'
    rows. Domains whose due rows were left behind are added to `held_back`.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.SEND_LEASE_SECONDS)
    due = Q(status=R.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    expired = Q(status=R.QUEUED, lease_expires_at__lt=now, handed_at__isnull=True)
    suffix = f".{secrets.token_hex(8)}@{message_id_domain(campaign)}>"
    with transaction.atomic():
        if quotas:
            ids = _lock_within_quotas(campaign.pk, due, quotas, size, held_back)
            ids += lock_claimable(CampaignRecipient, campaign.pk, [(expired, "pk")], size - len(ids))
        else:
            ids = lock_claimable(CampaignRecipient, campaign.pk, [(due, "pk"), (expired, "pk")], size)
        if not ids:
            return []
        CampaignRecipient.objects.filter(pk__in=ids).update(
            status=R.QUEUED,
            claimed_at=now,
            lease_expires_at=lease,
            not_before=None,
            sent_at=None,
            handed_at=None,
            updated_at=now,
            message_id=message_id_or_new("<", suffix),
        )
        return list(CampaignRecipient.objects.filter(pk__in=ids, claimed_at=now).select_related("lead").order_by("pk"))


def _lock_within_quotas(campaign_id, due, quotas, size, held_back) -> list:
    """The due rows of the capped domains within their quotas, then the other domains' (one
    query per capped domain — an index range —, one for the rest)."""
    ids = []
    for domain, most in sorted(quotas.items()):
        of_domain = due & Q(Exact(EMAIL_DOMAIN, domain))
        want = min(most, size - len(ids))
        got = lock_claimable(CampaignRecipient, campaign_id, [(of_domain, "pk")], want) if want > 0 else []
        ids += got
        if held_back is not None and (
            (want > 0 and len(got) == want)
            or (want <= 0 and CampaignRecipient.objects.filter(of_domain, campaign_id=campaign_id).exists())
        ):
            held_back.add(domain)
    other = due & ~Q(In(EMAIL_DOMAIN, sorted(quotas)))
    return ids + lock_claimable(CampaignRecipient, campaign_id, [(other, "pk")], size - len(ids))


def fail_suppressed(recipients) -> list:
    """Fail the claimed rows whose address is suppressed (`suppressed: <reason>`) before any
    is offered to the server — not even an SMTP RCPT for an address that bounced — and return
    the others. One query per batch; the start statement checks again (a suppression may
    arrive meanwhile)."""
    emails = {r.email_address.lower() for r in recipients}
    found = dict(Suppression.objects.filter(email__in=emails).values_list("email", "reason"))
    if not found:
        return recipients
    kept = []
    for r in recipients:
        reason = found.get(r.email_address.lower())
        if reason is None:
            kept.append(r)
        else:
            mark_failed(r.pk, f"suppressed: {reason}")
    return kept


@durable
def release(ids, *, not_before=None) -> int:
    """Give claimed rows whose message was not handed over back to `pending` (due again at
    `not_before`, when given: a campaign backing off)."""
    if not ids:
        return 0
    return CampaignRecipient.objects.filter(pk__in=list(ids), status=R.QUEUED, handed_at__isnull=True).update(
        status=R.PENDING,
        claimed_at=None,
        lease_expires_at=None,
        sent_at=None,
        not_before=not_before,
        updated_at=timezone.now(),
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
# A row may start when it is ours and not handed over, its campaign runs and its address is not
# suppressed. Python's version of the same rule: `why_not`.
_STARTABLE = (
    f"status = '{R.QUEUED}' AND handed_at IS NULL"
    f" AND EXISTS (SELECT 1 FROM {Campaign._meta.db_table} c"
    f" WHERE c.id = %(campaign)s AND c.status = %(running)s)"
    f" AND NOT EXISTS (SELECT 1 FROM {Suppression._meta.db_table} s"
    f" WHERE s.email = LOWER({_RECIPIENTS}.email_address))"
)
# `hand`: also set the in-flight mark (false only when the server already refused the
# message before its data: the start then only checks that a failure may be recorded).
_START_SQL = (
    f"UPDATE {_RECIPIENTS} SET sent_at = %(now)s, updated_at = %(now)s,"
    f" handed_at = CASE WHEN %(hand)s THEN %(now)s ELSE NULL END WHERE id = %(start)s AND {_STARTABLE}"
)
# The sent mark also wins over the janitor's "interrupted" (the lease ran out while the
# database was away): the server did accept it.
_RECORDABLE = f"(status = '{R.QUEUED}' OR (status = '{R.FAILED}' AND error_message = %(interrupted)s))"
_SENT_SQL = (
    f"UPDATE {_RECIPIENTS} SET status = '{R.SENT}', sent_at = %(now)s, updated_at = %(now)s,"
    f" lease_expires_at = NULL, handed_at = NULL, error_message = '', provider_message_id = %(provider_id)s"
    f" WHERE id = %(sent)s AND {_RECORDABLE}"
)
_SENT_AND_START_SQL = (
    f"UPDATE {_RECIPIENTS} SET"
    f" status = CASE WHEN id = %(sent)s THEN '{R.SENT}' ELSE status END,"
    f" lease_expires_at = CASE WHEN id = %(sent)s THEN NULL ELSE lease_expires_at END,"
    f" handed_at = CASE WHEN id = %(sent)s OR NOT %(hand)s THEN NULL ELSE %(now)s END,"
    f" error_message = CASE WHEN id = %(sent)s THEN '' ELSE error_message END,"
    f" provider_message_id = CASE WHEN id = %(sent)s THEN %(provider_id)s ELSE provider_message_id END,"
    f" sent_at = %(now)s, updated_at = %(now)s"
    f" WHERE (id = %(sent)s AND {_RECORDABLE})"
    f" OR (id = %(start)s AND {_STARTABLE})"
    f" RETURNING id"
)


def _stamp(now=None):
    return connection.ops.adapt_datetimefield_value(now or timezone.now())


def start(rid: int, campaign_id: int, now=None, *, hand: bool = True) -> bool:
    """The start and the in-flight mark: stamp `sent_at` and `handed_at` iff the row is
    ours, the campaign runs and the address is not suppressed. Call right before the
    message's data goes to the server. True → go ahead; False → find out why (`why_not`)."""
    with connection.cursor() as cursor:
        params = {"now": _stamp(now), "start": rid, "campaign": campaign_id, "running": RUNNING, "hand": hand}
        cursor.execute(_START_SQL, params)
        return cursor.rowcount == 1


@durable
def mark_sent(rid: int, provider_id: str = "") -> None:
    """`status = sent`, with the provider's id of the message (`provider_message_id`)."""
    params = {"now": _stamp(), "sent": rid, "interrupted": INTERRUPTED, "provider_id": provider_id[:255]}
    with connection.cursor() as cursor:
        cursor.execute(_SENT_SQL, params)


def mark_sent_and_start(
    sent_id: int, next_id: int, campaign_id: int, *, hand: bool = True, provider_id: str = ""
) -> bool:
    """`mark_sent(sent_id)` and `start(next_id)` as one statement (PostgreSQL): one round
    trip, one plan, one run of the recipient table's statement triggers. True when
    `next_id` was started."""
    params = {
        "sent": sent_id,
        "start": next_id,
        "campaign": campaign_id,
        "running": RUNNING,
        "now": _stamp(),
        "interrupted": INTERRUPTED,
        "hand": hand,
        "provider_id": provider_id[:255],
    }
    with connection.cursor() as cursor:
        cursor.execute(_SENT_AND_START_SQL, params)
        return any(row[0] == next_id for row in cursor.fetchall())


@durable
def unstart(rid) -> None:
    """Undo a start whose message's data was never handed to the server."""
    if rid is not None:
        CampaignRecipient.objects.filter(pk=rid, status=R.QUEUED).update(sent_at=None, handed_at=None)


def start_refusal(recipient, campaign_id) -> tuple[str, str]:
    """Python's version of `_STARTABLE`: ("", "") when the row may start, else (why,
    suppression reason) with why "stopped" (campaign not running), "suppressed" or "gone"
    (no longer our row, or already handed over)."""
    if not Campaign.all_objects.filter(pk=campaign_id, status=RUNNING).exists():
        return "stopped", ""
    reason = Suppression.objects.filter(email=recipient.email_address.lower()).values_list("reason", flat=True).first()
    if reason is not None:
        return "suppressed", reason
    if not CampaignRecipient.objects.filter(pk=recipient.pk, status=R.QUEUED, handed_at__isnull=True).exists():
        return "gone", ""
    return "", ""


def why_not(recipient, campaign_id) -> str:
    """After `start` refused: "stopped" (campaign not running), "suppressed" (marked failed
    here) or "gone" (no longer our row)."""
    why, reason = start_refusal(recipient, campaign_id)
    if why == "suppressed":
        mark_failed(recipient.pk, f"suppressed: {reason}")
    return why or "gone"


@durable
def drop_erased(recipients: list) -> list:
    """`recipients` less those whose address an erasure keeps suppressed as a hash (the
    address came back after its lead was erased: tracking.privacy), marked failed. One query;
    the SQL start check cannot hash, so this runs once per claimed batch."""
    keys = {Suppression.erased_key(r.email_address): r for r in recipients}
    erased = set(Suppression.objects.filter(email__in=list(keys)).values_list("email", flat=True))
    for key in erased:
        mark_failed(keys[key].pk, "suppressed: erased")
    return [r for key, r in keys.items() if key not in erased] if erased else recipients


def mark_failed(rid: int, reason: str) -> None:
    CampaignRecipient.objects.filter(pk=rid, status__in=[R.QUEUED, R.PENDING]).update(
        status=R.FAILED,
        sent_at=None,
        handed_at=None,
        lease_expires_at=None,
        error_message=reason[:1000],
        updated_at=timezone.now(),
    )


def step_of(recipient) -> int:
    """The message a row stands for: 0, the first message (`followups.step_of`: its step)."""
    return 0


@durable
def mark_bounced(recipient, reason: str, *, source: str, event: dict) -> bool:
    """A hard bounce at send time, in one transaction: the recipient `bounced` (`sent_at`
    kept, so it counts as sent like every bounce, and `bounced_at` now), and what every hard
    bounce at send does (`bounces.hard_at_send`: suppressed, the event). True when this
    call recorded it."""
    now = timezone.now()
    with transaction.atomic():
        changed = CampaignRecipient.objects.filter(pk=recipient.pk, status=R.QUEUED).update(
            status=R.BOUNCED,
            sent_at=Coalesce(F("sent_at"), Value(now)),
            bounced_at=now,
            handed_at=None,
            lease_expires_at=None,
            error_message=reason[:1000],
            updated_at=now,
        )
        if changed:
            bounces.hard_at_send(
                recipient_id=recipient.pk,
                campaign_id=recipient.campaign_id,
                email=recipient.email_address,
                source=source,
                event=event,
            )
    return bool(changed)


@durable
def soft_bounced(recipient, *, source: str, event: dict) -> None:
    """A soft bounce of a first message at send time (`bounces.soft_at_send`)."""
    bounces.soft_at_send(
        recipient_id=recipient.pk,
        campaign_id=recipient.campaign_id,
        email=recipient.email_address,
        step=0,
        source=source,
        event=event,
    )


@durable
def mark_transient(recipient, reason: str) -> None:
    """The server did not take it: pending again, not claimed before its backoff
    (`backoff(attempts so far)`), or failed after SEND_MAX_ATTEMPTS."""
    attempts = recipient.attempts + 1
    if attempts >= setting("SEND_MAX_ATTEMPTS", 5):
        mark_failed(recipient.pk, f"gave up after {attempts} attempts: {reason}")
        return
    CampaignRecipient.objects.filter(pk=recipient.pk, status=R.QUEUED).update(
        status=R.PENDING,
        sent_at=None,
        handed_at=None,
        claimed_at=None,
        lease_expires_at=None,
        not_before=timezone.now() + timedelta(seconds=backoff(attempts - 1)),
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
