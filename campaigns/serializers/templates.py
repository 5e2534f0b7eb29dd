"""Email template input and output shapes."""

from rest_framework import serializers

from fliptech.api import HeaderCharField, IdField

from .. import rendering
from ..models import EmailTemplate


class EmailTemplateSerializer(serializers.ModelSerializer):
    """An email template. Subject and bodies must compile as Django templates (else 400
    with the line and message per field)."""

    subject = HeaderCharField(max_length=255, help_text="A Django template; no line breaks.")

    class Meta:
        model = EmailTemplate
        fields = [
            "id",
            "name",
            "description",
            "category",
            "subject",
            "body_html",
            "body_text",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "description": {"max_length": 10_000},
            "body_html": {"max_length": 1_000_000},
            "body_text": {"max_length": 1_000_000, "help_text": "Optional; derived from the HTML when empty."},
        }

    def validate_name(self, value):
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.", code="blank")
        return value

    def validate(self, attrs):
        def current(name):
            return attrs.get(name, getattr(self.instance, name, ""))

        errors = rendering.validate_template_source(
            subject=current("subject"), body_html=current("body_html"), body_text=current("body_text") or ""
        )
        if errors:
            raise serializers.ValidationError(errors)
        # Over the render budget with sample data: 400 template_too_costly already on save.
        rendering.check_render_budget(
            subject=current("subject"), body_html=current("body_html"), body_text=current("body_text") or ""
        )
        return attrs


class TemplatePreviewRequestSerializer(serializers.Serializer):
    lead_id = IdField(
        required=False,
        allow_null=True,
        help_text="Personalise with this lead; sample data when omitted.",
    )


class TemplatePreviewResponseSerializer(serializers.Serializer):
    subject = serializers.CharField()
    html = serializers.CharField()
    text = serializers.CharField()
