"""A lead's data on request (CONTRACT.md, Privacy and safety): everything stored about a lead
(`lead_export`), and its erasure (`lead_erase`) — the lead deleted, its recipients' address and
names replaced, its events' IP, user agent and data cleared, its replies deleted — while a
one-way hash of the address stays suppressed, so it is never mailed again.

Here in tracking because it reaches events; tracking imports campaigns, never the reverse.
Every step is one set operation; the whole erasure is one transaction.
"""

from django.db import transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from campaigns.models import Campaign, CampaignLink, CampaignRecipient, Lead, LeadImportError, Suppression
from campaigns.serializers.leads import LeadSerializer

from .models import EmailTracking

R = CampaignRecipient.Status
REPLY_TYPES = ["reply", "auto_reply"]
ERASED_DOMAIN = "erased.invalid"
RECIPIENT_FIELDS = [
    "id",
    "campaign_id",
    "email_address",
    "first_name",
    "last_name",
    "status",
    "message_id",
    "sent_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "replied_at",
    "bounced_at",
    "unsubscribed_at",
    "complained_at",
    "error_message",
    "open_count",
    "click_count",
    "created_at",
    "updated_at",
]
EVENT_FIELDS = [
    "id",
    "campaign_recipient_id",
    "campaign_id",
    "event_type",
    "event_data",
    "user_agent",
    "ip_address",
    "url",
    "is_machine",
    "created_at",
]


def _recipients(lead):
    """The lead's recipients: every one is made from a lead and keeps its link until the lead
    is deleted (through the indexed foreign key; no scan of every recipient by address)."""
    return CampaignRecipient.objects.filter(lead=lead)


def lead_export(*, lead: Lead) -> dict:
    """Every datum stored about `lead`: its fields, its recipients (one per campaign message),
    their events (IP and user agent included), replies, and the address's suppression."""
    recipients = list(_recipients(lead).order_by("pk").values(*RECIPIENT_FIELDS))
    ids = [r["id"] for r in recipients]
    campaigns = dict(
        Campaign.all_objects.filter(pk__in={r["campaign_id"] for r in recipients}).values_list("pk", "campaign_id")
    )
    for r in recipients:
        r["campaign"] = campaigns.get(r["campaign_id"])
    events = list(EmailTracking.objects.filter(campaign_recipient_id__in=ids).order_by("pk").values(*EVENT_FIELDS))
    suppression = Suppression.objects.filter(email=lead.email.lower()).values("email", "reason", "source", "created_at")
    return {
        "lead": LeadSerializer(lead).data,
        "recipients": recipients,
        "events": [e for e in events if e["event_type"] not in REPLY_TYPES],
        "replies": [e for e in events if e["event_type"] in REPLY_TYPES],
        "suppression": suppression.first(),
    }


@transaction.atomic
def lead_erase(*, lead: Lead) -> dict:
    """Remove `lead`'s personal data everywhere and keep its address suppressed as a hash.

    Recipients keep their row (the campaign's history and counts) with the address
    `erased-<id>@erased.invalid` and no names; one still waiting to be sent is failed
    ("erased"). Their events keep type and time, lose IP, user agent, data and any URL that
    is not one of the campaign's own links; replies are deleted. Import error rows with the
    address and tracked links that carry it are deleted. Campaigns touched get a new
    `updated_at`, so no cached analytics answer shows the address again."""
    email = lead.email.strip().lower()
    recipients = _recipients(lead)
    ids = list(recipients.values_list("pk", flat=True))
    campaign_ids = set(recipients.values_list("campaign_id", flat=True))
    events = EmailTracking.objects.filter(campaign_recipient_id__in=ids)
    replies, _ = events.filter(event_type__in=REPLY_TYPES).delete()
    cleared = events.update(event_data={}, user_agent="", ip_address=None)
    events.filter(Q(link__isnull=True) | Q(url__icontains=email)).exclude(url="").update(url="")
    waiting = CampaignRecipient.objects.filter(pk__in=ids, status__in=[R.PENDING, R.QUEUED]).update(
        status=R.FAILED, error_message="erased"
    )
    CampaignRecipient.objects.filter(pk__in=ids).update(
        email_address=Concat(Value("erased-"), Cast(F("pk"), CharField()), Value(f"@{ERASED_DOMAIN}")),
        first_name="",
        last_name="",
        error_message="erased",
        lead=None,
    )
    links, _ = CampaignLink.objects.filter(campaign_id__in=campaign_ids, url__icontains=email).delete()
    import_rows, _ = LeadImportError.objects.filter(cells__icontains=email).delete()
    known = Suppression.objects.filter(email=email).values_list("reason", flat=True).first()
    Suppression.objects.filter(email=email).delete()
    Suppression.objects.get_or_create(
        email=Suppression.erased_key(email),
        defaults={"reason": known or Suppression.Reason.MANUAL, "source": "erasure"},
    )
    lead_id = lead.pk
    lead.delete()
    Campaign.all_objects.filter(pk__in=campaign_ids).update(updated_at=timezone.now())
    return {
        "lead_id": lead_id,
        "recipients": len(ids),
        "recipients_stopped": waiting,
        "events": cleared,
        "replies": replies,
        "links": links,
        "import_rows": import_rows,
        "suppressed": True,
    }
