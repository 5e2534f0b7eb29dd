"""Follow-up steps: a campaign's sequence after its first message, and each follow-up sent.

Step 0 is the campaign's first message; its record is the recipient row itself
(`message_id`, `sent_at`, `status`). Each follow-up a recipient gets (step 1, 2, …) is one
`RecipientMessage` row, claimed and sent with the same leased protocol as first messages
(campaigns/sending/followups.py, docs/steps.md).
"""

from django.db import models

from .base import TimestampedModel, status_check
from .campaign import Campaign
from .recipients import CampaignRecipient
from .templates import EmailTemplate


class StepCondition(models.TextChoices):
    NO_REPLY = "no_reply"
    NO_OPEN = "no_open"
    NO_CLICK = "no_click"
    ALWAYS = "always"


class CampaignStep(TimestampedModel):
    """Follow-up number `position` (1, 2, …): sent `delay` after the previous message to that
    recipient when `condition` holds then (people only)."""

    Condition = StepCondition

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="steps", db_index=False)
    position = models.PositiveSmallIntegerField()
    delay = models.DurationField(help_text="After the previous message to that recipient (ISO 8601, e.g. P3D).")
    condition = models.CharField(max_length=20, choices=StepCondition.choices, default=StepCondition.NO_REPLY)
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, related_name="campaign_steps")
    subject = models.CharField(max_length=255, blank=True, help_text='Empty: "Re: " + the previous subject.')

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="step_campaign_position_unique"),
            status_check("step_condition_valid", "condition", StepCondition.choices),
        ]

    def __str__(self):
        return f"step {self.position} of {self.campaign_id}"


class MessageStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its due time
    QUEUED = "queued"  # claimed by a sender
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"  # refused at send as a hard bounce (the recipient bounced too)
    CANCELLED = "cancelled"  # the sequence stopped before it started
    SKIPPED = "skipped"  # its condition failed when it fell due


class RecipientMessage(models.Model):
    """One follow-up to one recipient: created `pending` once the previous message went out,
    due `delay` after it; the claim columns mirror the recipient row's."""

    Status = MessageStatus

    recipient = models.ForeignKey(CampaignRecipient, on_delete=models.CASCADE, related_name="messages", db_index=False)
    # Denormalised from the recipient for the per-campaign claim (not enforced, like events).
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="messages", db_index=False, db_constraint=False
    )
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    due_at = models.DateTimeField(help_text="Not claimed before (the step's due time, later its backoff).")
    message_id = models.CharField(max_length=255, blank=True)
    # The provider's id of the message when it took it (as the recipient row's, for step 0).
    provider_message_id = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    handed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["recipient", "position"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "position"], name="message_recipient_position_unique"),
            status_check("message_status_valid", "status", MessageStatus.choices),
        ]
        indexes = [
            # The claim: a campaign's due follow-ups, earliest first, without a sort.
            models.Index(
                fields=["campaign", "due_at"], name="message_claim", condition=models.Q(status=MessageStatus.PENDING)
            ),
            # The janitor's expired leases, and "is anyone working on it".
            models.Index(
                fields=["campaign", "lease_expires_at"],
                name="message_leased",
                condition=models.Q(status=MessageStatus.QUEUED),
            ),
            # Per-step stats.
            models.Index(fields=["campaign", "position", "status"], name="message_campaign_step"),
            # The janitor's "a follow-up started lately" (per running campaign, every 10 s).
            models.Index(fields=["campaign", "sent_at"], name="message_campaign_sent"),
            # Replies and provider webhooks find the message by its Message-ID.
            models.Index(fields=["message_id"], name="message_message_id"),
            models.Index(
                fields=["provider_message_id"],
                name="message_provider_message_id",
                condition=~models.Q(provider_message_id=""),
            ),
        ]

    def __str__(self):
        return f"step {self.position} to recipient {self.recipient_id}"
