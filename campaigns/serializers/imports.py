"""Lead import input and output shapes."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..imports import ERRORS_SHOWN
from ..models import LeadImport


class LeadImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True, help_text="A CSV file: UTF-8 (with or without BOM), `,` or `;` separated, header first."
    )
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text='JSON object {"<csv header>": "<lead field>" | "attributes.<key>" | "tags" | "ignore"}; '
        "columns it does not name are guessed from their headers.",
    )
    tags = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, help_text="Comma-separated tags added to every lead."
    )
    update_existing = serializers.BooleanField(
        required=False, default=True, help_text="Default true: update leads that exist (by email); false: skip them."
    )


class LeadImportCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField(help_text="Where to follow the import: GET it for progress and the report.")


class LeadImportRowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line in the file; the header is line 1.")
    email = serializers.CharField()
    message = serializers.CharField()


class LeadImportSerializer(serializers.ModelSerializer):
    """An import's progress and report. `errors` lists the first 1,000 invalid rows (all of
    them, with their cells, in `errors_url`, a CSV file)."""

    progress_percentage = serializers.SerializerMethodField()
    errors = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = LeadImport
        fields = [
            "id",
            "status",
            "file_name",
            "total_rows",
            "processed_rows",
            "progress_percentage",
            "created",
            "updated",
            "unchanged",
            "invalid",
            "duplicates",
            "suppressed",
            "risky",
            "errors",
            "errors_url",
            "headers",
            "targets",
            "tags",
            "update_existing",
            "created_at",
            "started_at",
            "completed_at",
            "failure_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(help_text="0–100, one decimal; 100 once completed."))
    def get_progress_percentage(self, obj):
        return progress(obj)

    @extend_schema_field(LeadImportRowErrorSerializer(many=True))
    def get_errors(self, obj):
        return list(obj.errors.order_by("line").values("line", "email", "message")[:ERRORS_SHOWN])

    @extend_schema_field(serializers.CharField(help_text="The invalid rows as a CSV file."))
    def get_errors_url(self, obj):
        return reverse("lead-import-errors", args=[obj.pk])


def progress(obj) -> float:
    if obj.status == LeadImport.Status.COMPLETED:
        return 100.0
    if not obj.total_rows:
        return 0.0
    return round(min(99.9, 100.0 * obj.processed_rows / obj.total_rows), 1)
