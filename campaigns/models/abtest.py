"""An A/B test's decision (the test itself is the campaign's `ab_test`, see campaigns.abtest)."""

from django.db import models

from .base import status_check
from .campaign import Campaign


class ABTestDecision(models.Model):
    """The winner of a campaign's A/B test. The campaign is the primary key: a test is
    decided once, whoever tries second (beat, a person) finds the row taken."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, primary_key=True, related_name="ab_decision")
    winner = models.CharField(max_length=100)  # the variant's name
    winner_index = models.PositiveSmallIntegerField()  # its position in `ab_test.variants`
    decided_by = models.CharField(max_length=10, choices=[("auto", "auto"), ("manual", "manual")])
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [status_check("ab_decided_by_valid", "decided_by", [("auto", "auto"), ("manual", "manual")])]

    def __str__(self):
        return f"A/B winner of {self.campaign_id}: {self.winner}"
