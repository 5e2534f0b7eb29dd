"""Soft bounces counted per address (campaigns.bounces: SOFT_BOUNCE_LIMIT within 30 days)."""

from django.db import models


class SoftBounce(models.Model):
    """One soft bounce of an address: at most one per recipient message (a provider's
    retries and ours count once). Rows older than the 30-day window no longer count."""

    email = models.EmailField(max_length=254)  # lower-cased by campaigns.bounces
    # The message that bounced (recipient, step; 0 = the first message); kept if it is deleted.
    recipient_id = models.BigIntegerField()
    step = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["email", "recipient_id", "step"], name="soft_bounce_once_per_message")
        ]
        indexes = [models.Index(fields=["email", "created_at"], name="soft_bounce_email_time")]

    def __str__(self):
        return f"soft bounce of {self.email}"
