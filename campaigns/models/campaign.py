"""Campaigns, their counters and their tracked links."""

import hashlib

from django.conf import settings
from django.db import models

from .. import counters
from .base import TimestampedModel, new_campaign_id, status_check
from .templates import EmailTemplate


def default_time_zone() -> str:
    return settings.TIME_ZONE


class LiveCampaignManager(models.Manager):
    """Soft-deleted campaigns do not exist for anyone but `Campaign.all_objects`."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class CampaignStatus(models.TextChoices):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


class PauseReason(models.TextChoices):
    NONE = "", "paused by a person"
    BOUNCE_RATE = "bounce_rate"
    COMPLAINT_RATE = "complaint_rate"


class Campaign(TimestampedModel):
    Status = CampaignStatus
    PauseReason = PauseReason

    # What each status allows, the legal moves and the guard: `campaigns.states`.

    campaign_id = models.CharField(max_length=17, unique=True, default=new_campaign_id, editable=False)
    name = models.CharField(max_length=255, db_index=True)
    description = models.TextField(blank=True)
    template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    subject = models.CharField(max_length=255, blank=True, help_text="Overrides the template's subject.")
    from_email = models.EmailField(blank=True)
    from_name = models.CharField(max_length=255, blank=True)
    reply_to = models.EmailField(blank=True)
    send_rate_per_hour = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per hour; empty means the global limit."
    )
    # Sending windows (campaigns/windows.py): null = any time.
    send_window = models.JSONField(null=True, blank=True, help_text='{"days", "start", "end", "timezone"}')
    timezone = models.CharField(
        max_length=64, default=default_time_zone, help_text="IANA; a lead without a time zone falls back to it."
    )
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Auto-pause (campaigns.states.auto_pause): null = the AUTO_PAUSE_* setting, 0 = off.
    auto_pause_min_sample = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages sent before the rates are checked; empty = AUTO_PAUSE_MIN_SAMPLE."
    )
    auto_pause_bounce_rate = models.FloatField(
        null=True, blank=True, help_text="Percent; pause above it. Empty = AUTO_PAUSE_BOUNCE_RATE, 0 = off."
    )
    auto_pause_complaint_rate = models.FloatField(
        null=True, blank=True, help_text="Percent; pause above it. Empty = AUTO_PAUSE_COMPLAINT_RATE, 0 = off."
    )
    pause_reason = models.CharField(max_length=20, choices=PauseReason.choices, blank=True, default="")
    failure_reason = models.TextField(blank=True)
    total_recipients = models.PositiveIntegerField(default=0)
    # The A/B test (`campaigns.abtest.config`), null = none; a content field (campaigns.states).
    ab_test = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
    )
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = LiveCampaignManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        base_manager_name = "all_objects"
        constraints = [status_check("campaign_status_valid", "status", CampaignStatus.choices)]

    def __str__(self):
        return f"{self.name} ({self.campaign_id})"


class CampaignCounters(models.Model):
    """Running totals of a campaign's recipient rows, kept by database triggers.

    Every insert, update and delete on the recipient table adjusts these rows in the same
    transaction (see `campaigns/counters.py`), whichever code path made the change — sender,
    tracking, admin or a raw UPDATE — so the counters are exact and reading a campaign's
    metrics costs a few rows, not a scan of its recipients.

    A campaign's counters are spread over up to `counters.SHARDS` (16) rows: each statement adds its
    difference to a row picked at random, so concurrent writers (tracking hits, senders)
    do not queue on one row lock until the other commits. A campaign's figure is the SUM
    over its rows; one row alone means nothing and may be negative.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="counters", db_index=False)
    shard = models.PositiveSmallIntegerField(default=0)
    # …and a BigIntegerField per counter of `counters.COUNTERS`, added below the class: the
    # list of counters is written once, there.

    class Meta:
        verbose_name_plural = "campaign counters"
        constraints = [models.UniqueConstraint(fields=["campaign", "shard"], name="counters_campaign_shard_unique")]

    def __str__(self):
        return f"counters of {self.campaign_id} (shard {self.shard})"


for _column in counters.COUNTERS:
    CampaignCounters.add_to_class(_column, models.BigIntegerField(default=0))


class CampaignLink(models.Model):
    """A tracked link of a campaign: click redirects go only to URLs stored here."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="links")
    url = models.TextField()
    url_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "url_hash"], name="link_campaign_url_unique"),
        ]

    def __str__(self):
        return self.url

    @staticmethod
    def hash_url(url):
        return hashlib.sha256(url.encode()).hexdigest()

    def save(self, *args, **kwargs):
        self.url_hash = self.hash_url(self.url)
        super().save(*args, **kwargs)
