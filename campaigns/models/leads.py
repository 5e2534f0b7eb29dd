"""Leads and the suppression list."""

import hashlib

from django.db import models
from django.db.models.functions import Lower

from .base import TimestampedModel, status_check


class EmailStatus(models.TextChoices):
    """What the lead's address is worth (campaigns/addresses.py decides)."""

    VALID = "valid"
    RISKY = "risky"  # a role account (info@, …) or a disposable domain
    INVALID = "invalid"  # the domain takes no mail (EMAIL_CHECK_MX=1), or bad syntax
    UNKNOWN = "unknown"  # the MX lookup could not answer


class LeadStatus(models.TextChoices):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"


# A lead's fields as the outside sees them (the contract's Lead), in this order: the API's
# fields (`serializers.leads.LeadSerializer`) and the CSV export's columns (`exports`).
LEAD_FIELDS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "city",
    "source",
    "timezone",
    "status",
    "tags",
    "attributes",
    "created_at",
    "updated_at",
)


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
    # The engagement score's time-free form, kept by a trigger on tracking events
    # (campaigns.engagement); indexed for the score filters. Empty: no engagement.
    engagement_key = models.FloatField(null=True, blank=True, editable=False, db_index=True)
    # The engagement rollup (campaigns/lead_engagement.py): the latest stamp of the lead's
    # recipient rows, kept by triggers, read by segment rules over "any campaign".
    last_received_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_opened_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_clicked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_replied_at = models.DateTimeField(null=True, blank=True, editable=False)
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA, e.g. America/Chicago; optional.")
    # Derived from `email` whenever a lead is written (campaigns.addresses); never input.
    email_status = models.CharField(
        max_length=10,
        choices=EmailStatus.choices,
        default=EmailStatus.UNKNOWN,
        db_index=True,
        editable=False,
        help_text="valid; risky (a role account such as info@, or a disposable domain); invalid (the domain "
        "takes no mail: checked only with EMAIL_CHECK_MX=1); unknown (the check could not answer).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_ci_unique"),
            status_check("lead_status_valid", "status", LeadStatus.choices),
            status_check("lead_email_status_valid", "email_status", EmailStatus.choices),
        ]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "email" in update_fields:
            from ..addresses import stored_status

            self.email_status = stored_status(self.email)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "email_status"}
        super().save(*args, **kwargs)


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    SOFT_BOUNCE_LIMIT = "soft_bounce_limit"  # SOFT_BOUNCE_LIMIT soft bounces within 30 days


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

    @staticmethod
    def erased_key(email: str) -> str:
        """What stays of an erased lead's address: a one-way hash, kept suppressed, shaped
        like an address (`<sha256>@erased.invalid`) so it fits this table."""
        return f"{hashlib.sha256(email.strip().lower().encode()).hexdigest()}@erased.invalid"

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "email" in update_fields:
            from ..addresses import stored_status

            self.email_status = stored_status(self.email)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "email_status"}
        super().save(*args, **kwargs)
