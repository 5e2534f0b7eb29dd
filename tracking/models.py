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
    # Denormalised from the recipient so campaign analytics need no join.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events", db_index=False)
    event_type = models.CharField(max_length=20, choices=EventType.choices)
    event_data = models.JSONField(default=dict, blank=True)
    user_agent = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    url = models.TextField(blank=True)
    link = models.ForeignKey(CampaignLink, null=True, blank=True, on_delete=models.SET_NULL)
    is_machine = models.BooleanField(default=False)
    # A provider's own event id: a replayed webhook finds it taken and changes nothing.
    # Unique through Meta.constraints (no LIKE index beside it on PostgreSQL).
    provider_event_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            status_check("event_type_valid", "event_type", EventType.choices),
            models.UniqueConstraint(fields=["provider_event_id"], name="event_provider_event_id_unique"),
        ]
        indexes = [
            models.Index(fields=["campaign_recipient", "created_at"], name="event_recipient_time"),
            models.Index(fields=["campaign", "event_type", "created_at"], name="event_campaign_type_time"),
        ]

    def __str__(self):
        return f"{self.event_type} for recipient {self.campaign_recipient_id}"
