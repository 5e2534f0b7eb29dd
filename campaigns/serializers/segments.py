"""Segment input and output shapes."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fliptech.api import no_line_breaks
from fliptech.errors import Invalid

from ..models import Segment
from ..segments.rules import rules_clean
from .leads import LeadSerializer

RULES_HELP = (
    '`{"match": "all" | "any", "conditions": [{"field", "op", "value"}, …]}` (at most 100 conditions). '
    "Fields and ops: `email`, `first_name`, `last_name`, `company`, `phone`, `city`, `source`, `status` — "
    "`eq`, `neq`, `in`, `not_in`, `contains`, `starts_with`, `ends_with` (a string or a list of strings; "
    "case-insensitive; a list means any of them, or none of them for `neq`/`not_in`), `is_empty`, "
    "`is_not_empty`; `tags` — `has_any`, `has_all`, `has_none` (a non-empty list, exact strings); "
    "`attributes.<key>` — `eq`, `neq` (true without the key), `contains`, `gt`, `gte`, `lt`, `lte` "
    "(numerically when both sides are numbers or numeric strings, else text, case-insensitively), "
    "`exists`, `not_exists`; `created_at` — `before`, `after` (ISO 8601 date or datetime, naive = UTC), "
    "`within_days` (a number); `engagement` — `received`, `not_received`, `opened`, `not_opened`, "
    '`clicked`, `not_clicked`, `replied`, `not_replied` with `{"campaign"?: id, "within_days"?: n}`; '
    "`engagement_score` — `gt`, `gte`, `lt`, `lte` with a number 0–100 (the lead's score now) "
    "(received = sent and not bounced; machine opens and clicks never count; a negation means received "
    "(that campaign, or any) and did not …). An empty list of conditions matches every lead. A bad "
    'condition is a 400 naming its index: `{"rules": {"conditions": {"2": ["Condition 2: …"]}}}`.'
)


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "match": {"type": "string", "enum": ["all", "any"], "default": "all"},
            "conditions": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["field", "op"],
                    "properties": {"field": {"type": "string"}, "op": {"type": "string"}, "value": {}},
                },
            },
        },
    }
)
class RulesField(serializers.JSONField):
    """Segment rules, validated by `rules_clean` and stored as given."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        try:
            rules_clean(data)
        except Invalid as exc:  # nested under this field: {"rules": {"conditions": …}}
            raise serializers.ValidationError(exc.fields) from None
        return data


class SegmentSerializer(serializers.ModelSerializer):
    """A saved segment. `lead_count` is its members now (suppressed addresses excluded)."""

    rules = RulesField(help_text=RULES_HELP)
    lead_count = serializers.SerializerMethodField(help_text="Members now (suppressed addresses are never members).")

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rules", "lead_count", "created_at", "updated_at"]
        read_only_fields = ["id", "lead_count", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": [no_line_breaks]}}

    def get_lead_count(self, segment) -> int:
        counts = self.context.get("lead_counts")
        if counts is not None and segment.pk in counts:
            return counts[segment.pk]
        from ..segments.selectors import segment_leads

        return segment_leads(segment).count()


class SegmentPreviewRequestSerializer(serializers.Serializer):
    rules = RulesField(help_text=RULES_HELP)


class SegmentPreviewResponseSerializer(serializers.Serializer):
    lead_count = serializers.IntegerField(help_text="Members (matching leads whose address is not suppressed).")
    suppressed_count = serializers.IntegerField(help_text="Matching leads left out because they are suppressed.")
    sample = LeadSerializer(many=True, help_text="Up to 10 members, newest first.")
