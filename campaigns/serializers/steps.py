"""Follow-up step input and output shapes (`/campaigns/{id}/steps`)."""

from datetime import timedelta

from django.utils.dateparse import parse_duration
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fliptech.api import IdRelatedField

from ..models import CampaignStep, EmailTemplate

MAX_DELAY = timedelta(days=3650)


@extend_schema_field({"type": "string", "format": "duration", "example": "P3D"})
class IsoDurationField(serializers.Field):
    """An ISO 8601 duration (`P3D`, `PT2H`, `PT30S`, `P1DT12H`), ≥ 0; answered in ISO 8601."""

    default_error_messages = {
        "invalid": "Enter an ISO 8601 duration such as P3D, PT2H or PT30S.",
        "negative": "Must be zero or more.",
        "too_long": "At most 10 years.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.startswith(("P", "-P")) or len(data) > 64:
            self.fail("invalid")
        value = parse_duration(data)
        if value is None:
            self.fail("invalid")
        if value < timedelta(0):
            self.fail("negative")
        if value > MAX_DELAY:
            self.fail("too_long")
        return value

    def to_representation(self, value):
        return iso_duration(value)


def iso_duration(value: timedelta) -> str:
    """The shortest ISO 8601 form: P3D, PT2H, PT30S, P1DT12H, PT0S."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    out = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return out if out != "P" else "PT0S"


class CampaignStepSerializer(serializers.ModelSerializer):
    template_id = IdRelatedField(source="template", queryset=EmailTemplate.objects.all())
    delay = IsoDurationField(help_text="After the previous message to that recipient, ISO 8601 (P3D, PT2H), ≥ 0.")
    position = serializers.IntegerField(read_only=True, help_text="1, 2, … in order; the first message is step 0.")
    subject = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text='Empty: "Re: " + the previous message\'s subject.'
    )
    condition = serializers.ChoiceField(
        choices=CampaignStep.Condition.choices,
        required=False,
        help_text="Checked when the step falls due, people only (machine opens and clicks do not count).",
    )

    class Meta:
        model = CampaignStep
        fields = ["id", "position", "delay", "condition", "template_id", "subject", "created_at", "updated_at"]
        read_only_fields = ["id", "position", "created_at", "updated_at"]


class CampaignStepListSerializer(serializers.Serializer):
    steps = CampaignStepSerializer(many=True)
