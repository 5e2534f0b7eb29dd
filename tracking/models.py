"""One row per tracking event: every pixel hit, click, bounce, complaint and webhook."""

from django.db import models

from campaigns.models import Campaign, CampaignLink, CampaignRecipient, status_check


class EventType(models.TextChoices):
    OPEN = "open"
    CLICK = "click"
    BOUNCE = "bounce"
    REPLY = "reply"
    FORWARD = "forward"
    UNSUBSCRIBE = "unsubscribe"
    COMPLAIN = "complain"
    DELIVERED = "delivered"


class EmailTracking(models.Model):
    EventType = EventType

    # The two foreign keys are indexed through the composite indexes below, which start
    # with them; a separate index each would only slow every insert down.
    campaign_recipient = models.ForeignKey(
        CampaignRecipient, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    # Denormalised from the recipient so campaign analytics need no join. The campaign and
    # link are not enforced by the database (db_constraint=False): every insert takes them
    # from the recipient row and from the campaign's own links (`services`), which the
    # recipient's enforced key already ties together, and a database-checked key here would
    # make every tracking hit lock the campaign's (and link's) row against its neighbours'.
    # Deletes still cascade through Django, and campaigns are soft-deleted.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    event_type = models.CharField(max_length=20, choices=EventType.choices)
    event_data = models.JSONField(default=dict, blank=True)
    user_agent = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    url = models.TextField(blank=True)
    # Links are never deleted on their own, only with their campaign, whose events go with
    # it: so no index on link (a click adds no entry) and nothing to do on delete.
    link = models.ForeignKey(
        CampaignLink, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False
    )
    is_machine = models.BooleanField(default=False)
    # A provider's own event id: a replayed webhook finds it taken and changes nothing.
    # Unique through Meta.constraints (no LIKE index beside it on PostgreSQL), over the
    # rows that have one: pixel and click hits add no entry to that index.
    provider_event_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            status_check("event_type_valid", "event_type", EventType.choices),
            models.UniqueConstraint(
                fields=["provider_event_id"],
                condition=models.Q(provider_event_id__isnull=False),
                name="event_provider_event_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign_recipient", "created_at"], name="event_recipient_time"),
            models.Index(fields=["campaign", "event_type", "created_at"], name="event_campaign_type_time"),
        ]

    def __str__(self):
        return f"{self.event_type} for recipient {self.campaign_recipient_id}"
