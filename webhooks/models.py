"""Webhook endpoints and their deliveries."""

import secrets

from django.db import models

from campaigns.models import Campaign, CampaignRecipient, status_check


class EventType(models.TextChoices):
    MESSAGE_SENT = "message.sent"
    MESSAGE_OPENED = "message.opened"
    MESSAGE_CLICKED = "message.clicked"
    MESSAGE_REPLIED = "message.replied"
    MESSAGE_BOUNCED = "message.bounced"
    MESSAGE_UNSUBSCRIBED = "message.unsubscribed"
    MESSAGE_COMPLAINED = "message.complained"
    CAMPAIGN_STATUS_CHANGED = "campaign.status_changed"


def new_event_id():
    return "evt_" + secrets.token_hex(16)


class WebhookEndpoint(models.Model):
    """A URL that is POSTed every event of `events` while `active`. `secret` signs each
    body (`payloads.signature`); it is never shown again once saved."""

    url = models.URLField(max_length=2000)
    # A list of EventType values, matched by the triggers (`events.py`) with a JSON lookup.
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=255)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # due at next_attempt_at (the first attempt, or a retry)
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # no 2xx within WEBHOOKS_RETRY_FOR_SECONDS (24 h) of the event


class WebhookDelivery(models.Model):
    """One event for one endpoint, written by the database triggers in the event's own
    transaction; the worker (`delivery`) builds its body when it sends it.

    No key here is checked by the database (db_constraint=False): a tracking hit inserts a
    delivery per subscribed endpoint, and a checked key would make every hit take a share
    lock on the endpoint row (and the campaign's, the recipient's) — the busiest rows there
    are. The triggers take every id from the rows they react to; Django still cascades an
    endpoint's deletion to its deliveries (one DELETE), and campaigns are soft-deleted.
    """

    Status = DeliveryStatus

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    # Shared by the deliveries of one event to several endpoints (the payload's `id`).
    event_id = models.CharField(max_length=40, default=new_event_id)
    type = models.CharField(max_length=40, choices=EventType.choices)
    campaign = models.ForeignKey(
        Campaign, null=True, on_delete=models.DO_NOTHING, db_index=False, db_constraint=False, related_name="+"
    )
    recipient = models.ForeignKey(
        CampaignRecipient,
        null=True,
        on_delete=models.DO_NOTHING,
        db_index=False,
        db_constraint=False,
        related_name="+",
    )
    url = models.TextField(blank=True)  # the link of a click
    # What the event adds beyond the rows it names (a status change's old and new status).
    extra = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Due time while pending; a claimed delivery's lease (the worker moves it ahead).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()  # the event's time (set by the trigger)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [status_check("webhook_delivery_status_valid", "status", DeliveryStatus.choices)]
        indexes = [
            # The delivery log, one endpoint at a time, newest first.
            models.Index(fields=["endpoint", "id"], name="webhook_delivery_endpoint"),
            # The worker's claim: due pending rows, oldest first; delivered rows leave it.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status=DeliveryStatus.PENDING),
            ),
        ]

    def __str__(self):
        return f"{self.type} to {self.endpoint_id} ({self.status})"
