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
    AUTO_REPLY = "auto_reply"  # an out-of-office or other automatic answer: stops nothing


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


class ReplyKind(models.TextChoices):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"


class Reply(models.Model):
    """One inbound message matched to a recipient: a person's reply or an automatic one
    (tracking/replies/). Stored once per Message-ID, whichever way it arrived."""

    Kind = ReplyKind

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="replies", db_index=False, db_constraint=False
    )
    recipient = models.ForeignKey(CampaignRecipient, on_delete=models.CASCADE, related_name="replies")
    step = models.PositiveSmallIntegerField(default=0, help_text="The message it answers (0 = the first).")
    kind = models.CharField(max_length=20, choices=ReplyKind.choices, default=ReplyKind.REPLY)
    # The inbound Message-ID (or a hash of the message when it has none): unique, so the same
    # mail seen twice — webhook retried, IMAP and webhook both — is stored once.
    message_id = models.CharField(max_length=255)
    from_header = models.CharField(max_length=998, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    text = models.TextField(blank=True, help_text="The new text, without the quoted message.")
    received_at = models.DateTimeField()
    source = models.CharField(max_length=40, blank=True, help_text="imap, or anymail:<esp>.")
    event = models.ForeignKey(EmailTracking, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "replies"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message_id"], name="reply_message_id_unique"),
            status_check("reply_kind_valid", "kind", ReplyKind.choices),
        ]
        indexes = [models.Index(fields=["campaign", "kind", "received_at"], name="reply_campaign_time")]

    def __str__(self):
        return f"{self.kind} from {self.from_header} to recipient {self.recipient_id}"
