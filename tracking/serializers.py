"""Shapes of the tracking endpoints (14–19). Serializers only shape; rules live in services."""

from rest_framework import serializers

from campaigns.serializers.campaigns import CampaignMetricsSerializer
from fliptech.api import storable_json

from .models import EmailTracking


class TrackEmailEventRequestSerializer(serializers.Serializer):
    event_type = serializers.CharField(
        required=False, allow_blank=True, help_text="Ignored: the path decides the event type."
    )
    event_data = serializers.DictField(required=False, default=dict, validators=[storable_json])
    user_agent = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    ip_address = serializers.IPAddressField(required=False, allow_null=True, default=None)


class TrackClickRequestSerializer(TrackEmailEventRequestSerializer):
    url = serializers.URLField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="The clicked link; `event_data.url` works too.",
    )

    def validate(self, attrs):
        url = attrs.get("url") or attrs["event_data"].get("url") or ""
        if url:
            serializers.URLField(max_length=2000).run_validation(url)
        attrs["url"] = url
        return attrs


class TrackBounceRequestSerializer(TrackEmailEventRequestSerializer):
    event_data = serializers.DictField(
        required=False,
        default=dict,
        validators=[storable_json],
        help_text='`bounce_type`: "hard" (default; suppresses the address) or "soft"; `reason`: text.',
    )

    def validate_event_data(self, value):
        bounce_type = value.get("bounce_type", "hard")
        if bounce_type not in ("hard", "soft"):
            raise serializers.ValidationError({"bounce_type": ['Must be "hard" or "soft".']})
        if "reason" in value and not isinstance(value["reason"], str):
            raise serializers.ValidationError({"reason": ["Must be a string."]})
        return {**value, "bounce_type": bounce_type}


class EmailTrackingResponseSerializer(serializers.ModelSerializer):
    campaign_recipient_id = serializers.IntegerField(read_only=True)
    campaign_id = serializers.IntegerField(read_only=True)
    event_data = serializers.DictField(read_only=True)

    class Meta:
        model = EmailTracking
        fields = [
            "id",
            "campaign_recipient_id",
            "campaign_id",
            "event_type",
            "event_data",
            "user_agent",
            "ip_address",
            "url",
            "is_machine",
            "created_at",
        ]
        read_only_fields = fields


class TrackingEventsListResponseSerializer(serializers.Serializer):
    recipient_id = serializers.IntegerField()
    email_address = serializers.EmailField()
    events = EmailTrackingResponseSerializer(many=True, help_text="Newest first.")
    total_events = serializers.IntegerField()


# --- Stats and analytics (14, 15) ----------------------------------------------------


class ABVariantStatsSerializer(serializers.Serializer):
    name = serializers.CharField()
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="People only.")
    clicked = serializers.IntegerField(help_text="People only.")
    replied = serializers.IntegerField()
    rate = serializers.FloatField(help_text="The test's metric / delivered, percent.")


class StepStatsSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="0 = the first message, then each follow-up step.")
    sent = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="People who opened while it was their latest message.")
    clicked = serializers.IntegerField(help_text="People who clicked while it was their latest message.")
    replied = serializers.IntegerField(help_text="People whose reply answered this message.")
    bounced = serializers.IntegerField()


class CampaignStatsResponseSerializer(serializers.Serializer):
    campaign_id = serializers.CharField(help_text="The public `camp_…` id.")
    campaign_name = serializers.CharField()
    status = serializers.CharField()
    total_recipients = serializers.IntegerField()
    pending = serializers.IntegerField()
    queued = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Messages accepted by the mail server (whatever happened next).")
    failed = serializers.IntegerField()
    bounced = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="Unique human opens.")
    clicked = serializers.IntegerField(help_text="Unique human clicks.")
    replied = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()
    complained = serializers.IntegerField()
    total_opens = serializers.IntegerField(help_text="Every human open, repeats included.")
    total_clicks = serializers.IntegerField(help_text="Every human click, repeats included.")
    metrics = CampaignMetricsSerializer()
    scheduled_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    estimated_completion = serializers.DateTimeField(
        allow_null=True,
        help_text="While running: now + recipients left / emails_per_hour; completed: completed_at; else null.",
    )
    progress_percentage = serializers.FloatField(help_text="Recipients in a final status / total × 100.")
    emails_per_hour = serializers.FloatField(
        help_text="While running: the pace over the last hour (or since the first send); "
        "otherwise the average over the sending window."
    )
    average_send_time_seconds = serializers.FloatField(
        help_text="Average seconds between consecutive sends over the sending window."
    )
    last_event_at = serializers.DateTimeField(allow_null=True, help_text="Newest tracking event.")
    variants = ABVariantStatsSerializer(
        many=True, help_text="Per A/B variant (empty without a test): the figures of `GET …/ab`'s variants."
    )
    steps = StepStatsSerializer(many=True, help_text="Per message: step 0 is the first, then each follow-up.")


class HourCountSerializer(serializers.Serializer):
    hour = serializers.DateTimeField(help_text="Start of the hour, UTC.")
    count = serializers.IntegerField()


class LabelCountSerializer(serializers.Serializer):
    label = serializers.CharField()
    count = serializers.IntegerField()


class LocationCountSerializer(serializers.Serializer):
    country = serializers.CharField(
        help_text="ISO 3166-1 alpha-2 country of the hits' addresses (iptocc offline, or GEOIP_PATH's "
        'MaxMind database), or "Unknown" for private, unlisted or missing addresses.'
    )
    count = serializers.IntegerField()


class TopRecipientSerializer(serializers.Serializer):
    recipient_id = serializers.IntegerField()
    email_address = serializers.EmailField()
    count = serializers.IntegerField()


class ReasonCountSerializer(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class TopLinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    clicks = serializers.IntegerField(help_text="Human clicks.")
    unique_clicks = serializers.IntegerField(help_text="Recipients with a human click.")


class DomainSerializer(serializers.Serializer):
    domain = serializers.CharField()
    sent = serializers.IntegerField()
    bounced = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()


class EngagementSerializer(serializers.Serializer):
    median_seconds_to_open = serializers.FloatField(allow_null=True, help_text="From sent_at to the first human open.")
    median_seconds_to_click = serializers.FloatField(
        allow_null=True, help_text="From sent_at to the first human click."
    )


class CampaignSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()


class CampaignAnalyticsResponseSerializer(serializers.Serializer):
    campaign = CampaignSummarySerializer()
    stats = CampaignStatsResponseSerializer()
    hourly_sends = HourCountSerializer(many=True)
    hourly_opens = HourCountSerializer(many=True, help_text="Human opens per hour.")
    hourly_clicks = HourCountSerializer(many=True, help_text="Human clicks per hour.")
    opens_by_location = LocationCountSerializer(many=True)
    clicks_by_location = LocationCountSerializer(many=True)
    opens_by_device = LabelCountSerializer(many=True, help_text="desktop, mobile, tablet, other (from the user agent).")
    opens_by_email_client = LabelCountSerializer(
        many=True, help_text="Mail client / browser family from the user agent."
    )
    top_openers = TopRecipientSerializer(many=True)
    top_clickers = TopRecipientSerializer(many=True)
    bounce_reasons = ReasonCountSerializer(many=True)
    error_messages = ReasonCountSerializer(many=True, help_text="Send failures by error message.")
    top_links = TopLinkSerializer(many=True)
    domains = DomainSerializer(many=True)
    engagement = EngagementSerializer()
