"""Leads, templates, campaigns, their recipients and links, and the suppression list.

The database enforces what must never break: unique public campaign ids, one
recipient per (campaign, lead), lead emails unique whatever their case, unguessable
recipient tokens, and statuses limited to their enums.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from . import counters


def new_campaign_id():
    return "camp_" + secrets.token_hex(6)


def new_token():
    """A recipient's tracking token: 192 random bits, URL-safe, unrelated to any id."""
    return secrets.token_urlsafe(24)


def status_check(name, field, choices):
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": [value for value, _ in choices]}), name=name)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


class LeadStatus(models.TextChoices):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"


class Lead(TimestampedModel):
    Status = LeadStatus

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    city = models.CharField(max_length=100, blank=True, db_index=True)
    source = models.CharField(
        max_length=50,
        blank=True,
        db_index=True,
        help_text="Where the lead was found, e.g. craigslist, google_maps, linkedin, job_boards.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_ci_unique"),
            status_check("lead_status_valid", "status", LeadStatus.choices),
        ]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class EmailTemplate(TimestampedModel):
    name = models.CharField(max_length=255, db_index=True)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    subject = models.CharField(max_length=255)
    body_html = models.TextField()
    body_text = models.TextField(blank=True, help_text="Derived from the HTML when empty.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


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


class Campaign(TimestampedModel):
    Status = CampaignStatus

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
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    total_recipients = models.PositiveIntegerField(default=0)
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


class RecipientStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    UNSUBSCRIBED = "unsubscribed"


class CampaignRecipient(TimestampedModel):
    Status = RecipientStatus

    FINAL = {Status.SENT, Status.FAILED, Status.BOUNCED, Status.UNSUBSCRIBED}

    # Not indexed on its own: every composite index below starts with the campaign. Indexes
    # are what a bulk add pays for per row (see bench/add_recipients.py), so none is spare.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients", db_index=False)
    # Kept when the lead is deleted: the recipient row is the campaign's history.
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign_recipients")
    email_address = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # Unique through Meta.constraints (no useless LIKE index beside it on PostgreSQL).
    token = models.CharField(max_length=64, default=new_token, editable=False)
    message_id = models.CharField(max_length=255, blank=True)
    # The sender's lease: a queued recipient whose lease expired is pending again.
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Not claimed again before this time: the backoff after a transient refusal (the sender).
    not_before = models.DateTimeField(null=True, blank=True)
    # The in-flight mark: set right before the message's data goes to the server, cleared with
    # the claim. A row left queued with it set may have been delivered (docs/sending.md).
    handed_at = models.DateTimeField(null=True, blank=True)
    # Indexed per campaign (recipient_campaign_sent): stats read the send window through it.
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    open_count = models.PositiveIntegerField(default=0)
    click_count = models.PositiveIntegerField(default=0)
    machine_open_count = models.PositiveIntegerField(default=0)
    machine_click_count = models.PositiveIntegerField(default=0)
    # Indexed per campaign (recipient_campaign_created), not on their own.
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "lead"], name="recipient_campaign_lead_unique"),
            models.UniqueConstraint(fields=["token"], name="recipient_token_unique"),
            status_check("recipient_status_valid", "status", RecipientStatus.choices),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="recipient_campaign_status"),
            models.Index(fields=["campaign", "email_address"], name="recipient_campaign_email"),
            # The recipients list's default order, one campaign at a time.
            models.Index(fields=["campaign", "created_at", "id"], name="recipient_campaign_created"),
            models.Index(fields=["message_id"], name="recipient_message_id"),
            models.Index(fields=["campaign", "sent_at"], name="recipient_campaign_sent"),
            # The sender's claim: the lowest pending ids of a campaign, without a sort.
            models.Index(
                fields=["campaign", "id"], name="recipient_claim", condition=models.Q(status=RecipientStatus.PENDING)
            ),
            # Rows in backoff (few): the janitor's "a retry is scheduled" check.
            models.Index(
                fields=["campaign", "not_before"],
                name="recipient_backoff",
                condition=models.Q(not_before__isnull=False),
            ),
            # Segment engagement rules ("opened any campaign within 30 days", "clicked campaign
            # X", …): one small partial index per stamp, read index-only — a range of it for one
            # campaign, all of it (hashed) for any campaign. Rows enter them only when the stamp
            # is set (once per recipient), so a bulk add of pending recipients pays nothing.
            models.Index(
                fields=["campaign", "lead", "sent_at"],
                name="recipient_received",
                condition=models.Q(sent_at__isnull=False, bounced_at__isnull=True),
            ),
            models.Index(
                fields=["campaign", "lead", "opened_at"],
                name="recipient_opened",
                condition=models.Q(opened_at__isnull=False),
            ),
            models.Index(
                fields=["campaign", "lead", "clicked_at"],
                name="recipient_clicked",
                condition=models.Q(clicked_at__isnull=False),
            ),
            models.Index(
                fields=["campaign", "lead", "replied_at"],
                name="recipient_replied",
                condition=models.Q(replied_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.email_address} in {self.campaign_id}"


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


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"


class Suppression(models.Model):
    """An address no campaign may send to. Stored lower-cased."""

    Reason = SuppressionReason

    email = models.EmailField(max_length=254, unique=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    source = models.CharField(
        max_length=255, blank=True, help_text="What suppressed it, e.g. a campaign id or a provider."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [status_check("suppression_reason_valid", "reason", SuppressionReason.choices)]

    def __str__(self):
        return f"{self.email} ({self.reason})"

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class LeadImportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def import_upload_to(instance, filename):
    return f"imports/{timezone.now():%Y/%m}/{secrets.token_hex(8)}.csv"


class LeadImport(models.Model):
    """A CSV file of leads being imported (campaigns.imports). The file is kept in Django's
    default storage (STORAGES["default"]) until the import ends, so the worker that runs
    it may be on another machine when that storage is shared (see docs/imports.md)."""

    Status = LeadImportStatus

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    file = models.FileField(upload_to=import_upload_to, max_length=255, blank=True)
    file_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name.")
    file_size = models.BigIntegerField(default=0)
    delimiter = models.CharField(max_length=1, default=",")
    headers = models.JSONField(default=list, blank=True)
    targets = models.JSONField(default=list, blank=True, help_text="The lead field of each column, in order.")
    tags = models.JSONField(default=list, blank=True, help_text="Tags added to every imported lead.")
    update_existing = models.BooleanField(default=True)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="lead_imports"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The worker's heartbeat: bumped with every chunk it commits.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [status_check("lead_import_status_valid", "status", LeadImportStatus.choices)]

    def __str__(self):
        return f"import {self.pk} ({self.file_name})"


class LeadImportError(models.Model):
    """One invalid row of an import: its line (the header is line 1), why, and its cells."""

    lead_import = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="errors")
    line = models.PositiveIntegerField()
    email = models.CharField(max_length=254, blank=True)
    message = models.TextField()
    cells = models.JSONField(default=list)

    class Meta:
        ordering = ["lead_import", "line"]
        indexes = [models.Index(fields=["lead_import", "line"], name="lead_import_error_line")]

    def __str__(self):
        return f"line {self.line}: {self.message}"


class Segment(TimestampedModel):
    """A saved audience: leads matching `rules` (see `campaigns.segments`), evaluated when
    used — membership is never stored, so a segment always means "who matches now"."""

    name = models.CharField(max_length=255, db_index=True)
    description = models.TextField(blank=True)
    # {"match": "all" | "any", "conditions": [{"field", "op", "value"}, …]}, validated by
    # campaigns.segments.rules.rules_clean before it is stored.
    rules = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name
