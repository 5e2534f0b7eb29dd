"""A campaign's recipients: one row per (campaign, lead), the unit the sender claims."""

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Lower, StrIndex, Substr

from .base import TimestampedModel, new_token, status_check
from .campaign import Campaign
from .leads import Lead


class RecipientStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    UNSUBSCRIBED = "unsubscribed"


class SequenceStatus(models.TextChoices):
    ACTIVE = "active"
    FINISHED = "finished"  # the last step went out, or a condition ended it
    STOPPED = "stopped"  # replied, unsubscribed, bounced, complained, suppressed


class StopReason(models.TextChoices):
    NONE = "", "—"
    REPLIED = "replied"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    SUPPRESSED = "suppressed"
    CONDITION = "condition"


# A recipient's domain in SQL (lower case, after the first "@"): what the claim filters on for
# SEND_DOMAIN_RATES (campaigns.domain_pacing), read through the `recipient_claim_domain` index.
EMAIL_DOMAIN = Substr(Lower("email_address"), StrIndex("email_address", Value("@")) + 1)


class CampaignRecipient(TimestampedModel):
    Status = RecipientStatus
    Sequence = SequenceStatus
    StopReason = StopReason

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
    # The id the provider gave the message when it took it (anymail's message_id; SMTP
    # relays' queue id from the 250 answer): webhooks that name only it find the recipient.
    provider_message_id = models.CharField(max_length=255, blank=True)
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
    # The A/B variant (index into the campaign's `ab_test.variants`) this recipient gets;
    # empty without a test, and for a held recipient until the winner is chosen.
    variant = models.PositiveSmallIntegerField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    click_count = models.PositiveIntegerField(default=0)
    machine_open_count = models.PositiveIntegerField(default=0)
    machine_click_count = models.PositiveIntegerField(default=0)
    # The follow-up sequence (campaigns/sequences.py): the last step sent (0 = the first
    # message; NULL until it went out and the sequence was advanced), when the next falls due.
    current_step = models.PositiveSmallIntegerField(null=True, blank=True)
    next_step_at = models.DateTimeField(null=True, blank=True)
    sequence_status = models.CharField(max_length=10, choices=SequenceStatus.choices, default=SequenceStatus.ACTIVE)
    stop_reason = models.CharField(max_length=20, choices=StopReason.choices, blank=True, default="")
    # Indexed per campaign (recipient_campaign_created), not on their own.
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "lead"], name="recipient_campaign_lead_unique"),
            models.UniqueConstraint(fields=["token"], name="recipient_token_unique"),
            status_check("recipient_status_valid", "status", RecipientStatus.choices),
            status_check("recipient_sequence_valid", "sequence_status", SequenceStatus.choices),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="recipient_campaign_status"),
            models.Index(fields=["campaign", "email_address"], name="recipient_campaign_email"),
            # The recipients list's default order, one campaign at a time.
            models.Index(fields=["campaign", "created_at", "id"], name="recipient_campaign_created"),
            models.Index(fields=["message_id"], name="recipient_message_id"),
            models.Index(
                fields=["provider_message_id"],
                name="recipient_provider_message_id",
                condition=~models.Q(provider_message_id=""),
            ),
            models.Index(fields=["campaign", "sent_at"], name="recipient_campaign_sent"),
            # The sender's claim: the lowest pending ids of a campaign, without a sort.
            models.Index(
                fields=["campaign", "id"], name="recipient_claim", condition=models.Q(status=RecipientStatus.PENDING)
            ),
            # The claim's per-domain quotas (SEND_DOMAIN_RATES): a capped domain's lowest pending
            # ids in a campaign, a range of this index; an absent domain costs one probe.
            models.Index(
                F("campaign"),
                EMAIL_DOMAIN,
                F("id"),
                name="recipient_claim_domain",
                condition=models.Q(status=RecipientStatus.PENDING),
            ),
            # Rows in backoff (few): the janitor's "a retry is scheduled" check.
            models.Index(
                fields=["campaign", "not_before"],
                name="recipient_backoff",
                condition=models.Q(not_before__isnull=False),
            ),
            # First messages sent whose sequence was not advanced yet (a sender died between the
            # two): the beat's catch-up reads them. Rows pass through it once, briefly.
            models.Index(
                fields=["campaign", "id"],
                name="recipient_unadvanced",
                condition=models.Q(status=RecipientStatus.SENT, current_step__isnull=True),
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
