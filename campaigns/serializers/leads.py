"""Lead input and output shapes."""

from django.db import IntegrityError
from rest_framework import serializers

from fliptech.api import no_line_breaks

from .. import engagement
from ..lead_input import EMAIL_TAKEN, LEAD_TEXT_FIELDS, clean_attributes, clean_email, clean_tags, email_taken
from ..models import LEAD_FIELDS, Lead
from ..windows import clean_zone


class LeadSerializer(serializers.ModelSerializer):
    """A lead. `email` is stored lower-case and unique whatever its case."""

    tags = serializers.JSONField(
        required=False, help_text="A list of strings (at most 100, each at most 100 characters)."
    )
    attributes = serializers.JSONField(
        required=False, help_text="A JSON object of free per-lead data, available to templates as lead.attributes."
    )

    engagement_score = serializers.SerializerMethodField(
        help_text="0–100 from recent human opens (1 point), clicks (3) and replies (5), halving every 30 days "
        "(docs/engagement.md)."
    )

    class Meta:
        model = Lead
        # Every stored lead field (the export's columns too), then the computed score:
        # not a column of the export, so an exported file imports back unchanged.
        # `email_status` is derived from the address (campaigns.addresses) and, like the score,
        # not an export column.
        fields = [*LEAD_FIELDS, "email_status", "engagement_score"]
        read_only_fields = ["id", "email_status", "engagement_score", "created_at", "updated_at"]
        # One-line values: a name may end up in a subject line (a mail header).
        extra_kwargs = {
            "email": {"validators": []},
            **{name: {"validators": [no_line_breaks]} for name in LEAD_TEXT_FIELDS},
        }

    def validate_email(self, value):
        try:
            value = clean_email(value)  # email-validator's syntax too
        except ValueError as exc:
            raise serializers.ValidationError(f"Enter a valid email address: {exc}.") from None
        if email_taken(value, exclude_pk=getattr(self.instance, "pk", None)):
            raise serializers.ValidationError(EMAIL_TAKEN, code="unique")
        return value

    def validate_timezone(self, value):
        if value:
            try:
                clean_zone(value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_tags(self, value):
        try:
            return clean_tags(value)
        except ValueError as exc:
            raise serializers.ValidationError(f"Tags {exc}.") from None

    def validate_attributes(self, value):
        try:
            return clean_attributes(value)
        except ValueError as exc:
            raise serializers.ValidationError(f"Attributes {exc}.") from None

    def save(self, **kwargs):
        # Two requests racing for one address: the database's unique index decides.
        try:
            return super().save(**kwargs)
        except IntegrityError:
            raise serializers.ValidationError({"email": [EMAIL_TAKEN]}) from None

    def get_engagement_score(self, lead) -> int:
        return engagement.score(lead.engagement_key)
