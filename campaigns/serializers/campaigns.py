"""Campaign input and output shapes. Serializers only shape and validate data; the rules
about statuses live in campaigns.services."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fliptech.api import HeaderCharField, IdRelatedField

from ..abtest.config import ABTestField
from ..models import Campaign, EmailTemplate, Lead
from ..selectors import campaign_metrics
from ..windows import clean_window, clean_zone

MAX_RATE = 2_147_483_647


class FutureDateTimeField(serializers.DateTimeField):
    """ISO 8601; a timezone-aware value is converted to UTC, a naive one is taken as UTC.
    Must lie in the future."""

    def to_internal_value(self, value):
        value = super().to_internal_value(value)
        if value <= timezone.now():
            self.fail("past")
        return value

    default_error_messages = {"past": "Must be in the future."}


class CampaignMetricsSerializer(serializers.Serializer):
    emails_sent = serializers.IntegerField()
    emails_delivered = serializers.IntegerField(help_text="sent − bounced")
    emails_opened = serializers.IntegerField(help_text="Recipients who opened (unique), machine opens excluded.")
    emails_clicked = serializers.IntegerField(help_text="Recipients who clicked (unique), machine clicks excluded.")
    emails_replied = serializers.IntegerField()
    emails_bounced = serializers.IntegerField()
    emails_failed = serializers.IntegerField()
    emails_unsubscribed = serializers.IntegerField()
    emails_complained = serializers.IntegerField()
    machine_opens = serializers.IntegerField(help_text="Opens by mail scanners/proxies, left out of the rates.")
    machine_clicks = serializers.IntegerField(help_text="Clicks by link scanners, left out of the rates.")
    open_rate = serializers.FloatField(help_text="opened / delivered, percent 0–100, 2 places.")
    click_rate = serializers.FloatField(help_text="clicked / delivered, percent.")
    reply_rate = serializers.FloatField(help_text="replied / delivered, percent.")
    bounce_rate = serializers.FloatField(help_text="bounced / sent, percent.")
    click_to_open_rate = serializers.FloatField(help_text="clicked / opened, percent.")
    unsubscribe_rate = serializers.FloatField(help_text="unsubscribed / delivered, percent.")
    complaint_rate = serializers.FloatField(help_text="complained / delivered, percent.")


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "example": {"days": ["mon", "tue"], "start": "09:00", "end": "17:00", "timezone": "lead"},
    }
)
class SendWindowField(serializers.Field):
    def to_internal_value(self, data):
        try:
            return clean_window(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return value


class CampaignWriteSerializer(serializers.Serializer):
    """Fields shared by create and update."""

    name = serializers.CharField(max_length=255, help_text="1–255 characters.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    template_id = IdRelatedField(
        source="template",
        queryset=EmailTemplate.objects.all(),
        required=False,
        allow_null=True,
        help_text="The email template (required to launch).",
    )
    subject = HeaderCharField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="Overrides the template's subject when set. No line breaks.",
    )
    from_email = serializers.EmailField(
        required=False, allow_blank=True, help_text="Defaults to the address of DEFAULT_FROM_EMAIL."
    )
    from_name = HeaderCharField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="Defaults to the name of DEFAULT_FROM_EMAIL. No line breaks.",
    )
    reply_to = serializers.EmailField(
        required=False, allow_blank=True, help_text="Defaults to DEFAULT_REPLY_TO (empty: replies go to From)."
    )
    send_rate_per_hour = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_RATE,
        help_text="Messages per hour for this campaign; null = the global limit.",
    )
    auto_pause_min_sample = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_RATE,
        help_text="Messages sent before the rates are checked; null = AUTO_PAUSE_MIN_SAMPLE (100).",
    )
    auto_pause_bounce_rate = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text="Pause once bounced / sent is above this percentage; null = AUTO_PAUSE_BOUNCE_RATE (5), 0 = off.",
    )
    auto_pause_complaint_rate = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text=(
            "Pause once complained / delivered is above this percentage; null = AUTO_PAUSE_COMPLAINT_RATE (0.3), "
            "0 = off."
        ),
    )
    track_opens = serializers.BooleanField(required=False, help_text="Default true: add an open pixel.")
    track_clicks = serializers.BooleanField(required=False, help_text="Default true: rewrite links.")
    scheduled_at = FutureDateTimeField(
        required=False,
        allow_null=True,
        help_text=(
            "When `POST launch` with `send_immediately: false` should start sending. Must be in "
            "the future. ISO 8601 with a timezone; a naive value is taken as UTC."
        ),
    )

    ab_test = ABTestField(required=False)
    send_window = SendWindowField(
        required=False,
        allow_null=True,
        help_text='Null (any time) or {"days": ["mon", …], "start": "09:00", "end": "17:00", '
        '"timezone": "lead" | "<IANA zone>"} (end exclusive; an end before the start, e.g. 22:00–06:00, spans '
        "midnight). \"lead\": each lead's timezone, else the campaign's.",
    )
    timezone = serializers.CharField(
        required=False, max_length=64, help_text="IANA time zone (default settings.TIME_ZONE)."
    )

    def validate_timezone(self, value):
        try:
            return clean_zone(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_name(self, value):
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.", code="blank")
        return value


class CampaignCreateSerializer(CampaignWriteSerializer):
    pass


class CampaignUpdateSerializer(CampaignWriteSerializer):
    """Every field optional. `status` is not writable: use the launch/pause/resume actions.
    Content fields (template_id, subject, from_*, reply_to, track_*) can change only in
    draft and scheduled; the rest also in paused."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False

    def validate(self, attrs):
        # A client that sends back the object it read (status unchanged) is fine; an attempt
        # to change the status here is refused rather than silently ignored.
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        current = getattr(self.instance, "status", None)
        if "status" in data and data["status"] != current:
            raise serializers.ValidationError({"status": ["Not writable: use the launch, pause and resume actions."]})
        return attrs


class CampaignResponseSerializer(serializers.ModelSerializer):
    """A campaign. `metrics` comes from `campaign_metrics`: pass `{"metrics": {pk: …}}` in
    the context for a page of campaigns (one query for the page), else it is computed for
    the one campaign. `created_by` is the creator's username (null once that user is
    deleted)."""

    template_id = serializers.IntegerField(allow_null=True, read_only=True)
    # Not EmailFields: empty is not an email address, and the schema would say `format: email`.
    from_email = serializers.CharField(
        read_only=True, help_text="The From address, or empty: DEFAULT_FROM_EMAIL's address."
    )
    reply_to = serializers.CharField(read_only=True, help_text="The Reply-To address, or empty: replies go to From.")
    created_by = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "campaign_id",
            "name",
            "description",
            "template_id",
            "status",
            "subject",
            "from_email",
            "from_name",
            "reply_to",
            "send_rate_per_hour",
            "track_opens",
            "track_clicks",
            "send_window",
            "timezone",
            "scheduled_at",
            "started_at",
            "completed_at",
            "paused_at",
            "pause_reason",
            "auto_pause_min_sample",
            "auto_pause_bounce_rate",
            "auto_pause_complaint_rate",
            "failure_reason",
            "ab_test",
            "total_recipients",
            "metrics",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="The creator's username."))
    def get_created_by(self, obj):
        return obj.created_by.username if obj.created_by_id and obj.created_by else None

    @extend_schema_field(CampaignMetricsSerializer)
    def get_metrics(self, obj):
        page_metrics = self.context.get("metrics")
        if page_metrics is None or obj.pk not in page_metrics:
            page_metrics = campaign_metrics(campaign_ids=[obj.pk])
        return page_metrics[obj.pk]


class LaunchCampaignSerializer(serializers.Serializer):
    send_immediately = serializers.BooleanField(
        default=True, help_text="true: start now (→ running). false: schedule at `scheduled_at` (→ scheduled)."
    )
    scheduled_at = FutureDateTimeField(
        required=False,
        allow_null=True,
        help_text=(
            "With send_immediately=false: when to start (required unless already set on the "
            "campaign; must be in the future). Ignored when sending immediately. To move the "
            "time of a campaign that is already scheduled, PATCH its scheduled_at."
        ),
    )
    test_mode = serializers.BooleanField(
        default=False,
        help_text=(
            "true: send one test message to `test_email` only (like POST …/test); the "
            "campaign and its status stay unchanged."
        ),
    )
    test_email = serializers.EmailField(required=False, allow_blank=False, help_text="Required with test_mode.")
    send_rate_per_hour = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_RATE,
        help_text="Sets the campaign's send rate before launching.",
    )

    def validate(self, attrs):
        if attrs["test_mode"] and not attrs.get("test_email"):
            raise serializers.ValidationError({"test_email": ["Required when test_mode is true."]})
        return attrs


class SendTestEmailSerializer(serializers.Serializer):
    test_email = serializers.EmailField()
    lead_id = IdRelatedField(
        source="lead",
        queryset=Lead.objects.all(),
        required=False,
        allow_null=True,
        help_text="Personalise with this lead (sample data when absent).",
    )


class PauseCampaignResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    campaign_id = serializers.CharField(help_text="The public id (camp_…).")
    status = serializers.ChoiceField(choices=Campaign.Status.choices)
    paused_at = serializers.DateTimeField(allow_null=True)
    pending_recipients = serializers.IntegerField(help_text="Recipients not yet sent (pending + queued).")


class DeleteCampaignResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    campaign_id = serializers.CharField(help_text="The public id (camp_…).")
    deleted_at = serializers.DateTimeField()


class SuccessResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    data = serializers.DictField(allow_null=True, required=False)


class HealthDataSerializer(serializers.Serializer):
    version = serializers.CharField()
    database = serializers.CharField(help_text='"ok" or "unavailable".')
    broker = serializers.CharField(help_text='"ok" or "unavailable".')


class HealthResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    data = HealthDataSerializer()


class ChecklistItemSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="recipients, template_renders, subject, unsubscribe_link, text_part, images, links, tracking_https, "
        "dkim, spf, dmarc, spam_score."
    )
    level = serializers.ChoiceField(choices=["ok", "warning", "error"])
    message = serializers.CharField()


class ChecklistSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="False exactly when a check is an error (launch answers 409 then).")
    checks = ChecklistItemSerializer(many=True)


class NotReadySerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="`not_ready`, or `invalid_state` for a status the move is not allowed in.")
    checks = ChecklistItemSerializer(many=True, required=False, help_text="The failing checks (`not_ready`).")
