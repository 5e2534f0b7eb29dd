"""Email templates."""

from django.db import models

from .base import TimestampedModel


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
