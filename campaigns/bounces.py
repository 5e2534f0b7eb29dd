"""Bounces: what a refusal means for the address, in one table, and what follows from it.

Every refusal — an SMTP answer at send time, an anymail provider's verdict at send time, a
provider's bounce webhook — is classified here into one of four kinds:

=========  ====================================================  ===============================
kind       when                                                  effect
=========  ====================================================  ===============================
hard       5.1.x (no such mailbox, no such domain, bad address),  recipient ``bounced``, a
           a provider's ``rejected``/``invalid`` recipient         ``bounce`` event, the address
                                                                  suppressed (``hard_bounce``)
soft       4.2.x / 5.2.x (mailbox full, disabled for now, over    retried (4xx) or failed (5xx);
           quota), a provider's deferred / transient bounce       ``SOFT_BOUNCE_LIMIT`` of them
                                                                  for one address within 30 days
                                                                  suppress it
                                                                  (``soft_bounce_limit``)
policy     x.7.x (spam, authentication, blocklist, rate limits)   ``failed`` with the answer (or
                                                                  retried when 4xx); the address
                                                                  is not suppressed
other      anything else (no enhanced code, 4.3.x/4.4.x server    failed (5xx) or retried (4xx);
           or network trouble, 5.3.x/5.6.x message trouble)       nothing about the address
=========  ====================================================  ===============================

Whether a refusal is retried is its basic code's first digit (4 → later, 5 → never), not
its kind. The kind only comes from the *enhanced* status code (RFC 3463), since a bare
``550`` is used for "no such user" and "you are spam" alike; without one nothing is said
about the address.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from .models import CampaignRecipient, SoftBounce, Suppression

HARD, SOFT, POLICY, OTHER = "hard", "soft", "policy", "other"

# (enhanced status code prefix, kind): the first match wins.
ENHANCED_CODES = (
    ("5.1.", HARD),
    ("4.2.", SOFT),
    ("5.2.", SOFT),
    ("4.7.", POLICY),
    ("5.7.", POLICY),
)
# A provider's verdict on one recipient at send time (anymail's recipient status).
PROVIDER_SEND_STATUSES = {"rejected": HARD, "invalid": HARD}
# What a provider's payload says when anymail reports a temporary bounce as `bounced`:
# (path of keys in the payload, values that mean soft).
PROVIDER_SOFT_MARKS = (
    (("bounce", "bounceType"), {"Transient", "Undetermined"}),  # Amazon SES
    (("Type",), {"SoftBounce"}),  # Postmark
    (("event",), {"soft_bounce"}),  # Mandrill, Brevo
    (("data", "type"), {"soft_bounced"}),  # MailerSend
    (("hard_bounce",), {False}),  # Mailjet
    (("msys", "message_event", "bounce_class"), {"20", "21", "22", "23", "24", "70"}),  # SparkPost
)
# anymail's reject_reason of a refusal for the sender's reputation, not the address.
PROVIDER_POLICY_REASONS = frozenset({"blocked", "spam"})
SOFT_BOUNCE_WINDOW = timedelta(days=30)

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def enhanced_code(text) -> str:
    """The first RFC 3463 enhanced status code in a server's answer ("5.1.1"), or ""."""
    match = _ENHANCED.search(str(text or ""))
    return ".".join(match.groups()) if match else ""


def kind_of(text) -> str:
    """hard / soft / policy / other, from the enhanced status code in `text`."""
    code = enhanced_code(text)
    for prefix, kind in ENHANCED_CODES:
        if code.startswith(prefix):
            return kind
    return OTHER


def provider_bounce_kind(*, event_type: str, reject_reason, esp_event, reason) -> str:
    """The kind of a provider's bounce webhook (anymail's normalised event): `deferred` is
    soft; a `bounced`/`rejected` is hard unless the payload says it was temporary
    (PROVIDER_SOFT_MARKS), anymail's reject_reason says blocked/spam (policy), or
    the enhanced code in the remote server's answer says soft or policy."""
    if event_type == "deferred" or _payload_says_soft(esp_event):
        return SOFT
    if reject_reason in PROVIDER_POLICY_REASONS:
        return POLICY
    from_code = kind_of(reason)
    return from_code if from_code in (SOFT, POLICY) else HARD


def _payload_says_soft(payload) -> bool:
    for path, values in PROVIDER_SOFT_MARKS:
        value = payload
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (str, bool, int)) and value in values:
            return True
    return False


# --- What follows ---------------------------------------------------------------------------


def suppress(*, email: str, reason: str, source: str = "") -> Suppression:
    """Add `email` (lower-cased) to the suppression list, or keep the row already there
    (an address keeps its first reason and source: the earliest cause is the one an
    operator needs to see)."""
    email = (email or "").strip().lower()
    obj, _ = Suppression.objects.get_or_create(email=email, defaults={"reason": reason, "source": source[:255]})
    return obj


def soft_bounced(*, email: str, recipient_id: int, source: str = "", step: int = 0) -> bool:
    """Count a soft bounce of `email` (once per recipient message — `step` 0 is the first
    message, 1, 2 … its follow-ups —: a provider's retries and our own do not count again);
    suppress the address (`soft_bounce_limit`) once SOFT_BOUNCE_LIMIT of them fell within
    30 days. True when this suppressed it."""
    email = (email or "").strip().lower()
    try:
        with transaction.atomic():
            SoftBounce.objects.create(email=email, recipient_id=recipient_id, step=step)
    except IntegrityError:
        return False  # this message's soft bounce was counted already
    limit = getattr(settings, "SOFT_BOUNCE_LIMIT", 3)
    if limit <= 0:
        return False
    since = timezone.now() - SOFT_BOUNCE_WINDOW
    if SoftBounce.objects.filter(email=email, created_at__gte=since).count() < limit:
        return False
    suppress(email=email, reason=Suppression.Reason.SOFT_BOUNCE_LIMIT, source=source)
    return True


# --- At send time: the same for a first message and a follow-up ----------------------------


def hard_at_send(*, recipient_id: int, campaign_id: int, email: str, source: str, event: dict) -> None:
    """What a hard bounce at send time does besides the sender's own rows (which the Store
    marks `bounced` in the same transaction): the address suppressed (`hard_bounce`) and the
    `bounce` event. Call inside that transaction."""
    suppress(email=email, reason=Suppression.Reason.HARD_BOUNCE, source=source)
    write_event(recipient_id, campaign_id, event)


def recipient_bounced(recipient_id: int, now) -> int:
    """A hard bounce of a message that went out: the recipient `sent → bounced`, `bounced_at`
    once (a provider's bounce webhook and a follow-up refused at send alike)."""
    R = CampaignRecipient.Status
    return CampaignRecipient.objects.filter(pk=recipient_id, bounced_at__isnull=True).update(
        bounced_at=now, status=Case(When(status=R.SENT, then=Value(R.BOUNCED)), default=F("status"))
    )


def soft_at_send(*, recipient_id: int, campaign_id: int, email: str, step: int, source: str, event: dict) -> None:
    """A soft bounce at send time: its `bounce` event, and one more towards SOFT_BOUNCE_LIMIT
    (which may suppress the address: its retry is then refused at its start)."""
    with transaction.atomic():
        write_event(recipient_id, campaign_id, event)
        soft_bounced(email=email, recipient_id=recipient_id, source=source, step=step)


# The tracking app writes the `bounce` event of a refusal at send time (the engine may not
# import it): `tracking.apps` registers its writer here.
_event_writer = None


def register_event_writer(writer) -> None:
    """`writer(recipient_id, campaign_id, event_data)` records the `bounce` event of a refusal
    at send time."""
    global _event_writer
    _event_writer = writer


def write_event(recipient_id: int, campaign_id: int, event_data: dict) -> None:
    if _event_writer is not None:
        _event_writer(recipient_id, campaign_id, event_data)
