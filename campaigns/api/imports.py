"""CSV import and export under /api/v1: POST leads/import, GET leads/imports/{id} (+ its
errors.csv), GET leads/export and GET campaigns/{id}/recipients/export."""

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from fliptech.api import error_responses
from fliptech.ids import parse_pk
from fliptech.permissions import READS, ModelPermissions, requires

from .. import exports
from ..csvio import escape_cell
from ..filters import IdFilter, LeadFilter, RecipientFilter
from ..imports import FileTooLarge, import_create
from ..models import CampaignRecipient, Lead, LeadImport
from ..selectors import campaign_get
from ..serializers.imports import LeadImportCreatedSerializer, LeadImportRequestSerializer, LeadImportSerializer
from .recipients import CAMPAIGN_PARAMETER

CSV_RESPONSE = OpenApiResponse(
    {"type": "string", "format": "binary"}, description="A CSV file (UTF-8 with BOM, `,` separated, CRLF)."
)


class CSVRenderer(BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; the CSV itself is streamed by
    the view, so this only ever renders an error answer (as JSON text)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)


class ImportPermissions(ModelPermissions):
    """Importing creates and changes leads: `campaigns.add_lead` and `campaigns.change_lead`."""

    perms_map = {
        **ModelPermissions.perms_map,
        "POST": ["campaigns.add_lead", "campaigns.change_lead"],
    }


def _import_or_404(pk: str) -> LeadImport:
    lead_import = (
        LeadImport.objects.filter(pk=int(pk)).first() if pk.isascii() and pk.isdigit() and len(pk) < 19 else None
    )
    if lead_import is None:
        raise Http404("No import matches the given id.")
    return lead_import


class LeadImportCreateView(generics.GenericAPIView):
    queryset = LeadImport.objects.all()
    permission_classes = [permissions.IsAuthenticated, ImportPermissions]
    parser_classes = [MultiPartParser]
    serializer_class = LeadImportRequestSerializer

    @extend_schema(
        summary="Import leads from a CSV file",
        description=(
            "Multipart: `file` (CSV, UTF-8 with or without BOM, `,` or `;`, header first), optional "
            "`mapping` (JSON), `tags`, `update_existing`. The file is checked and stored, the import "
            "runs in the background: follow `url`. 400 `invalid_import` when the file is not a CSV, "
            "is empty, has no email column, or `mapping` is not JSON or names an unknown column or "
            "field; 413 `file_too_large` past IMPORT_MAX_BYTES. Needs `campaigns.add_lead` and "
            "`campaigns.change_lead`."
        ),
        request={"multipart/form-data": LeadImportRequestSerializer},
        responses={202: LeadImportCreatedSerializer, **error_responses(400, 401, 403, 413, 415, 429)},
    )
    def post(self, request, *args, **kwargs):
        # Refuse an oversized body before it is received and parsed (the form around the file
        # gets 64 KB of slack; the file's own size is checked again below).
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.IMPORT_MAX_BYTES + 64 * 1024:
            raise FileTooLarge(f"At most {settings.IMPORT_MAX_BYTES} bytes (IMPORT_MAX_BYTES) are accepted.")
        data = LeadImportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead_import = import_create(
            upload=data.validated_data["file"],
            mapping=data.validated_data.get("mapping"),
            tags=data.validated_data.get("tags", ""),
            update_existing=data.validated_data["update_existing"],
            user=request.user,
        )
        url = reverse("lead-import", args=[lead_import.pk])
        return Response(
            {"id": lead_import.pk, "status": lead_import.status, "url": url},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )


IMPORT_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The import's id.")


class LeadImportView(generics.GenericAPIView):
    queryset = LeadImport.objects.all()
    serializer_class = LeadImportSerializer

    @extend_schema(
        summary="An import's progress and report",
        parameters=[IMPORT_PARAMETER],
        responses={200: LeadImportSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request, *args, **kwargs):
        return Response(LeadImportSerializer(_import_or_404(self.kwargs["id"])).data)


class LeadImportErrorsView(generics.GenericAPIView):
    queryset = LeadImport.objects.all()
    # The rows' cells are lead data.
    permission_classes = [permissions.IsAuthenticated, ModelPermissions, requires("campaigns.view_lead")]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="An import's invalid rows as CSV",
        description="Columns `line`, `message`, then the file's own columns with the row's cells: fix "
        "the rows, drop the first two columns and import the file again.",
        parameters=[IMPORT_PARAMETER],
        responses={(200, "text/csv"): CSV_RESPONSE, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request, *args, **kwargs):
        lead_import = _import_or_404(self.kwargs["id"])
        rows = lead_import.errors.order_by("line").values_list("line", "message", "cells").iterator(chunk_size=2000)
        header = ["line", "message", *lead_import.headers]
        body = ((line, message, *map(escape_cell, cells)) for line, message, cells in rows)
        return exports.csv_response(f"import-{lead_import.pk}-errors.csv", header, body)


class _ExportFilter(LeadFilter):
    segment_id = IdFilter(method="filter_segment", help_text="Only the members of this segment.")

    class Meta(LeadFilter.Meta):
        fields = [*LeadFilter.Meta.fields, "segment_id"]

    def filter_segment(self, queryset, name, value):
        return queryset  # applied by exports.leads_for_export


class LeadExportView(generics.GenericAPIView):
    queryset = Lead.objects.all()
    filterset_class = _ExportFilter
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="Export leads as CSV",
        description="The leads the list's filters (or `segment_id`) select, every field: `tags` joined "
        "by `, `, `attributes` as one JSON cell. Streamed. Importing the file changes nothing.",
        # 404: an unknown `format` (DRF's answer for a representation it does not have).
        responses={(200, "text/csv"): CSV_RESPONSE, **error_responses(400, 401, 403, 404, 429)},
    )
    def get(self, request, *args, **kwargs):
        queryset = self.filter_queryset(Lead.objects.all())
        segment_id = parse_pk(request.query_params.get("segment_id"))  # checked by the filter
        if segment_id is not None and not request.user.has_perm("campaigns.view_segment"):
            raise PermissionDenied()
        return exports.leads_csv(exports.leads_for_export(queryset=queryset, segment_id=segment_id))


class RecipientExportView(generics.GenericAPIView):
    queryset = CampaignRecipient.objects.all()
    permission_classes = [
        permissions.IsAuthenticated,
        ModelPermissions,
        requires("campaigns.view_campaign", methods=READS),
    ]
    filterset_class = RecipientFilter
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="Export a campaign's recipients as CSV",
        description="The recipients the list's filters select, with their status and engagement: "
        "`email, first_name, last_name, status, sent_at, opened_at, clicked_at, replied_at, "
        "bounced_at, unsubscribed_at, open_count, click_count, error_message`. Streamed.",
        parameters=[CAMPAIGN_PARAMETER],
        responses={(200, "text/csv"): CSV_RESPONSE, **error_responses(400, 401, 403, 404, 429)},
    )
    def get(self, request, *args, **kwargs):
        campaign = campaign_get(key=self.kwargs["id"])
        queryset = self.filter_queryset(CampaignRecipient.objects.filter(campaign_id=campaign.pk))
        return exports.recipients_csv(queryset, filename=f"{campaign.campaign_id}-recipients.csv")
