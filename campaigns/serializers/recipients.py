"""Recipient input and output shapes (endpoints 7–9)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fliptech.ids import parse_id_list_item, parse_pk

from ..audience import MAX_ITEMS, TooManyItems
from ..models import CampaignRecipient, Lead, Segment


class CampaignRecipientSerializer(serializers.ModelSerializer):
    """CampaignRecipientResponse. `campaign_id` is the campaign's integer id."""

    campaign_id = serializers.IntegerField(read_only=True)
    lead_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="Null once the lead is deleted.")

    class Meta:
        model = CampaignRecipient
        fields = [
            "id",
            "campaign_id",
            "lead_id",
            "email_address",
            "first_name",
            "last_name",
            "status",
            "sent_at",
            "opened_at",
            "clicked_at",
            "replied_at",
            "bounced_at",
            "unsubscribed_at",
            "error_message",
            "message_id",
            "open_count",
            "click_count",
            "current_step",
            "next_step_at",
            "sequence_status",
            "stop_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


@extend_schema_field({"type": "array", "items": {"type": "integer", "format": "int64"}, "maxItems": MAX_ITEMS})
class LeadIdsField(serializers.Field):
    """A list of integers (numeric strings accepted), at most MAX_ITEMS (else 413).
    Checked in one pass: 10,000 ids must not cost 10,000 field validations."""

    default_error_messages = {
        "not_a_list": 'Expected a list of lead ids but got type "{input_type}".',
        "empty": "This list may not be empty.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if len(data) > MAX_ITEMS:
            raise TooManyItems()
        if not data:
            self.fail("empty")
        out, errors = [], {}
        for index, value in enumerate(data):
            pk = parse_id_list_item(value)
            if pk is None:
                errors[index] = ["A valid integer is required."]
            else:
                out.append(pk)
        if errors:
            raise serializers.ValidationError(errors)
        return out

    def to_representation(self, value):
        return value


class LeadObjectsField(serializers.ListField):
    """Raw lead objects; each is validated by the service and reported on its own."""

    child = serializers.JSONField()

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > MAX_ITEMS:
            raise TooManyItems()
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data:
            self.fail("empty")
        return data


class LeadFiltersSerializer(serializers.Serializer):
    """Every lead matching all the given keys (any value within a key). `{}` matches every lead."""

    sources = serializers.ListField(
        child=serializers.CharField(max_length=50),
        max_length=1000,
        required=False,
        help_text="Any of these sources (exact).",
    )
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=Lead.Status.choices),
        max_length=10,
        required=False,
        help_text="Any of these lead statuses.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=1000,
        required=False,
        help_text="Leads having at least one of these tags.",
    )
    cities = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=1000,
        required=False,
        help_text="Any of these cities (case-insensitive).",
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="Leads created at or after this moment (naive = UTC)."
    )

    def to_internal_value(self, data):
        # A misspelt key ("source") must not silently widen the selection to every lead.
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError({key[:100]: ["Unknown filter."] for key in unknown[:20]})
        return super().to_internal_value(data)


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1})
class SegmentIdField(serializers.Field):
    """A saved segment's id → the Segment (unknown → 400)."""

    default_error_messages = {"invalid": "A valid segment id is required.", "unknown": "No segment with this id."}

    def to_internal_value(self, data):
        pk = parse_pk(data)
        if pk is None:
            self.fail("invalid")
        segment = Segment.objects.filter(pk=pk).first()
        if segment is None:
            self.fail("unknown")
        return segment

    def to_representation(self, value):
        return value.pk


class AddRecipientsRequestSerializer(serializers.Serializer):
    """AddRecipientsRequest: at least one of the four keys."""

    lead_ids = LeadIdsField(required=False, help_text=f"1–{MAX_ITEMS} lead ids.")
    leads = LeadObjectsField(
        required=False,
        help_text=f"1–{MAX_ITEMS} lead objects (`email` required; first_name, last_name, company, phone, "
        "city, source, status, tags, attributes optional), upserted by email (case-insensitive): a known lead "
        "gets the fields given and keeps the others. An invalid object is reported in `errors`, the rest go ahead.",
    )
    lead_filters = LeadFiltersSerializer(required=False, allow_null=True)
    segment_id = SegmentIdField(
        required=False,
        allow_null=True,
        help_text="A saved segment: every member now (needs `campaigns.view_segment`).",
    )

    def validate(self, attrs):
        if not any(attrs.get(key) is not None for key in ("lead_ids", "leads", "lead_filters", "segment_id")):
            raise serializers.ValidationError(
                {"non_field_errors": ["Give lead_ids, leads, lead_filters or segment_id."]}, code="required"
            )
        if len(attrs.get("lead_ids", ())) + len(attrs.get("leads", ())) > MAX_ITEMS:
            raise TooManyItems()
        return attrs


class BulkErrorSerializer(serializers.Serializer):
    item = serializers.JSONField(
        help_text="The lead id or email as given (or `leads[i]`, `lead_filters`, `segment_id`)."
    )
    message = serializers.CharField()


class BulkOperationResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="True when every item was added.")
    total_processed = serializers.IntegerField()
    successful = serializers.IntegerField(help_text="Recipients added.")
    failed = serializers.IntegerField(help_text="duplicates + suppressed + invalid.")
    errors = BulkErrorSerializer(many=True)
    message = serializers.CharField()
    duplicates = serializers.IntegerField(help_text="Duplicates in the request and leads already recipients.")
    suppressed = serializers.IntegerField(help_text="Addresses on the suppression list.")
    invalid = serializers.IntegerField(
        help_text="Unknown lead ids, invalid lead objects, leads without a valid email (or whose domain takes no mail: "
        "email_status invalid)."
    )
    risky = serializers.IntegerField(
        help_text="Of the recipients added, those whose address is risky (a role account such as info@, or a "
        "disposable domain): added all the same."
    )
    total_recipients = serializers.IntegerField(help_text="The campaign's recipients after this request.")


class SuccessDataRemoveSerializer(serializers.Serializer):
    recipient_id = serializers.IntegerField()
    campaign_id = serializers.IntegerField()
    total_recipients = serializers.IntegerField()


class RecipientRemoveResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    data = SuccessDataRemoveSerializer()
