"""Lead input and output shapes."""

from django.db import IntegrityError
from django.db.models.functions import Lower
from rest_framework import serializers

from fliptech.api import no_line_breaks

from ..audience import LEAD_TEXT_FIELDS, clean_attributes, clean_tags
from ..models import Lead
from ..windows import clean_zone


class LeadSerializer(serializers.ModelSerializer):
    """A lead. `email` is stored lower-case and unique whatever its case."""

    tags = serializers.JSONField(
        required=False, help_text="A list of strings (at most 100, each at most 100 characters)."
    )
    attributes = serializers.JSONField(
        required=False, help_text="A JSON object of free per-lead data, available to templates as lead.attributes."
    )

    class Meta:
        model = Lead
        fields = [
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
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # One-line values: a name may end up in a subject line (a mail header).
        extra_kwargs = {
            "email": {"validators": []},
            **{name: {"validators": [no_line_breaks]} for name in LEAD_TEXT_FIELDS},
        }

    def validate_email(self, value):
        value = value.strip().lower()
        taken = Lead.objects.alias(email_lower=Lower("email")).filter(email_lower=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("A lead with this email already exists.", code="unique")
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
            raise serializers.ValidationError({"email": ["A lead with this email already exists."]}) from None
