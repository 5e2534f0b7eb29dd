"""`/api/v1/webhooks` input and output shapes."""

from rest_framework import serializers

from fliptech.api import no_line_breaks

from . import urls_safe
from .models import EventType, WebhookDelivery, WebhookEndpoint

SECRET_MIN = 16


def url_checked(value: str) -> str:
    try:
        urls_safe.check(value)
    except urls_safe.UnsafeURL as exc:
        raise serializers.ValidationError(str(exc)) from exc
    return value


class WebhookEndpointSerializer(serializers.ModelSerializer):
    """An endpoint. `secret` is write-only (required on create): it signs every body, and
    is never shown again."""

    url = serializers.URLField(
        max_length=2000,
        validators=[url_checked],
        help_text="http(s) URL. One that resolves to a loopback, link-local or private address is refused (400) "
        "unless WEBHOOKS_ALLOW_PRIVATE=1.",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        min_length=1,
        max_length=len(EventType.choices),
        help_text="The event types to receive (at least one).",
    )
    secret = serializers.CharField(
        write_only=True,
        min_length=SECRET_MIN,
        max_length=255,
        validators=[no_line_breaks],
        help_text="Signs every body: `X-FlipTech-Signature: sha256=<hex HMAC-SHA256 of the body>`. Write-only.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "secret", "active", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"description": {"validators": [no_line_breaks]}}

    def validate_events(self, value):
        return list(dict.fromkeys(value))  # each once, in the order given


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "type",
            "status",
            "attempts",
            "response_code",
            "created_at",
            "delivered_at",
            "next_attempt_at",
            "last_error",
        ]
        read_only_fields = fields


class DeliveryQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)
    type = serializers.ChoiceField(choices=EventType.choices, required=False)
