"""Saved segments: an audience kept as rules."""

from django.db import models

from .base import TimestampedModel


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
