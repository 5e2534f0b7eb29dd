"""Leads CRUD under /api/v1/leads."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions, viewsets

from fliptech.api import error_responses, paginated
from fliptech.permissions import ModelPermissions

from ..filters import LeadFilter
from ..models import Lead
from ..serializers.leads import LeadSerializer


@extend_schema_view(
    list=extend_schema(
        summary="List leads",
        description='Paginated `{"leads": […], "total", "page", "page_size", "has_more"}` (page_size 1–200, '
        "default 50).",
        responses={200: LeadSerializer(many=True), **error_responses(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="Get a lead", responses={200: LeadSerializer, **error_responses(401, 403, 404, 429)}
    ),
    create=extend_schema(
        summary="Create a lead",
        description="`email` is unique whatever its case (400 when taken) and stored lower-case.",
        responses={201: LeadSerializer, **error_responses(400, 401, 403, 429)},
    ),
    update=extend_schema(
        summary="Replace a lead", responses={200: LeadSerializer, **error_responses(400, 401, 403, 404, 429)}
    ),
    partial_update=extend_schema(
        summary="Update some fields of a lead",
        responses={200: LeadSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    destroy=extend_schema(
        summary="Delete a lead",
        description="The lead is deleted; campaign recipients made from it stay (with `lead_id` null) as history.",
        responses={204: None, **error_responses(401, 403, 404, 429)},
    ),
)
class LeadViewSet(viewsets.ModelViewSet):
    queryset = Lead.objects.all()
    serializer_class = LeadSerializer
    permission_classes = [permissions.IsAuthenticated, ModelPermissions]
    filterset_class = LeadFilter
    pagination_class = paginated("leads")
    page_size_default = 50
    page_size_max = 200
    sort_fields = [
        "created_at",
        "updated_at",
        "email",
        "first_name",
        "last_name",
        "company",
        "city",
        "source",
        "status",
    ]
    sort_default = "created_at"
    lookup_value_regex = r"[0-9]{1,18}"
