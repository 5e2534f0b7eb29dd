"""The `ab_test` object: `{"variants": [{"name", "subject"?, "from_name"?, "template_id"?}, …
2 to 5], "test_percentage": 1–50, "metric": "opens" | "clicks" | "replies", "duration":
"<ISO 8601>", "winner_selection": "auto" | "manual"}`.

Defaults where the contract is silent: `test_percentage` 20, `metric` "opens", `duration`
"PT4H", `winner_selection` "auto". A variant without a subject, sender name or template uses
the campaign's. Stored as validated, with `duration` normalised to ISO 8601.
"""

from datetime import timedelta

from django.utils.dateparse import parse_duration
from django.utils.duration import duration_iso_string
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fliptech.api import HeaderCharField, IdRelatedField, no_line_breaks

from ..models import EmailTemplate

METRICS = {"opens": "opened", "clicks": "clicked", "replies": "replied"}  # metric → the per-variant count
MAX_DURATION = timedelta(days=30)


class VariantSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[no_line_breaks])
    subject = HeaderCharField(required=False, allow_blank=True, max_length=255)
    from_name = HeaderCharField(required=False, allow_blank=True, max_length=255)
    template_id = IdRelatedField(queryset=EmailTemplate.objects.all(), required=False, allow_null=True)


class ABTestSerializer(serializers.Serializer):
    variants = VariantSerializer(many=True, min_length=2, max_length=5)
    test_percentage = serializers.IntegerField(min_value=1, max_value=50, default=20)
    metric = serializers.ChoiceField(choices=list(METRICS), default="opens")
    duration = serializers.CharField(default="PT4H", help_text="ISO 8601, e.g. `PT4H`, `P1D` (at most 30 days).")
    winner_selection = serializers.ChoiceField(choices=["auto", "manual"], default="auto")

    def validate_variants(self, value):
        names = [v["name"].strip().lower() for v in value]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("Variant names must be different.")
        return value

    def validate_duration(self, value):
        duration = parse_duration(value) if isinstance(value, str) and value.startswith("P") else None
        if duration is None:
            raise serializers.ValidationError("An ISO 8601 duration, e.g. PT4H or P1D.")
        if not timedelta(0) < duration <= MAX_DURATION:
            raise serializers.ValidationError("More than zero and at most 30 days.")
        return duration_iso_string(duration)

    def to_stored(self) -> dict:
        data = self.validated_data
        variants = []
        for v in data["variants"]:
            variant = {"name": v["name"]}
            for key in ("subject", "from_name"):
                if v.get(key):
                    variant[key] = v[key]
            if v.get("template_id") is not None:
                variant["template_id"] = v["template_id"].pk
            variants.append(variant)
        return {**data, "variants": variants}


def duration_of(config: dict) -> timedelta:
    return parse_duration(config["duration"])


def clean(value) -> dict | None:
    """The stored form of an `ab_test` input (None stays None), or a ValidationError."""
    if value is None:
        return None
    serializer = ABTestSerializer(data=value)
    serializer.is_valid(raise_exception=True)
    return serializer.to_stored()


AB_TEST_HELP = (
    '`{"variants": [{"name", "subject"?, "from_name"?, "template_id"?}, … 2 to 5], "test_percentage": 1–50 '
    '(default 20), "metric": "opens" | "clicks" | "replies" (default opens), "duration": ISO 8601 (default PT4H, '
    'at most P30D), "winner_selection": "auto" | "manual" (default auto)}` or null (no test). Set while draft or '
    "scheduled. At launch `test_percentage` of the pending recipients (at least one per variant) are split "
    "evenly at random across the variants; the rest wait, pending, for the winner (docs/ab-tests.md)."
)


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "required": ["variants"],
        "properties": {
            "variants": {
                "type": "array",
                "minItems": 2,
                "maxItems": 5,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 100},
                        "subject": {"type": "string"},
                        "from_name": {"type": "string"},
                        "template_id": {"type": "integer", "nullable": True},
                    },
                },
            },
            "test_percentage": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
            "metric": {"type": "string", "enum": list(METRICS), "default": "opens"},
            "duration": {"type": "string", "default": "PT4H"},
            "winner_selection": {"type": "string", "enum": ["auto", "manual"], "default": "auto"},
        },
    }
)
class ABTestField(serializers.JSONField):
    """A campaign's `ab_test`, validated by `ABTestSerializer` and stored normalised."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("help_text", AB_TEST_HELP)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return clean(super().to_internal_value(data))
