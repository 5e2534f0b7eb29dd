"""Segments under /api/v1/segments: CRUD, their members, and a preview of unsaved rules."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fliptech.api import error_responses, paginated
from fliptech.ids import parse_pk
from fliptech.permissions import ModelPermissions

from ..models import Segment
from ..segments.selectors import rules_preview, segment_counts, segment_leads
from ..serializers.leads import LeadSerializer
from ..serializers.segments import (
    SegmentPreviewRequestSerializer,
    SegmentPreviewResponseSerializer,
    SegmentSerializer,
)

LEAD_SORT_FIELDS = [
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


class SegmentPermissions(ModelPermissions):
    """Reads need `campaigns.view_segment` (the preview and the member list, which show
    leads, also `campaigns.view_lead`); writes the matching add/change/delete permission."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) in ("preview", "leads"):
            user = request.user
            return bool(
                user and user.is_authenticated and user.has_perms(["campaigns.view_segment", "campaigns.view_lead"])
            )
        return super().has_permission(request, view)


@extend_schema_view(
    list=extend_schema(
        summary="List segments",
        description='Paginated `{"segments": […], "total", "page", "page_size", "has_more"}` (page_size 1–100, '
        "default 20). The page's `lead_count`s are counted in one query.",
        responses={200: SegmentSerializer(many=True), **error_responses(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="Get a segment", responses={200: SegmentSerializer, **error_responses(401, 403, 404, 429)}
    ),
    create=extend_schema(
        summary="Create a segment",
        description="`rules` are validated (400 naming the condition's index) and stored as given.",
        responses={201: SegmentSerializer, **error_responses(400, 401, 403, 429)},
    ),
    update=extend_schema(
        summary="Replace a segment", responses={200: SegmentSerializer, **error_responses(400, 401, 403, 404, 429)}
    ),
    partial_update=extend_schema(
        summary="Update some fields of a segment",
        responses={200: SegmentSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    destroy=extend_schema(
        summary="Delete a segment",
        description="Only the saved rules go; leads and campaigns it was added to are untouched.",
        responses={204: None, **error_responses(401, 403, 404, 429)},
    ),
)
class SegmentViewSet(viewsets.ModelViewSet):
    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    permission_classes = [permissions.IsAuthenticated, SegmentPermissions]
    pagination_class = paginated("segments")
    page_size_default = 20
    page_size_max = 100
    sort_fields = ["created_at", "updated_at", "name"]
    sort_default = "created_at"
    lookup_value_regex = r"[^/]+"

    def get_object(self):
        pk = parse_pk(self.kwargs["pk"])
        segment = Segment.objects.filter(pk=pk).first() if pk is not None else None
        if segment is None:
            raise Http404("No segment matches the given id.")
        self.check_object_permissions(self.request, segment)
        return segment

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "lead_counts": segment_counts(page)}
        return self.get_paginated_response(SegmentSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="A segment's members",
        description='Paginated like `/leads`: `{"leads": […], "total", "page", "page_size", "has_more"}` '
        "(page_size 1–200, default 50; `sort_by` a lead field, default `created_at`). Suppressed addresses "
        "are never members. Needs `campaigns.view_segment` and `campaigns.view_lead`.",
        responses={200: LeadSerializer(many=True), **error_responses(400, 401, 403, 404, 429)},
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=paginated("leads"),
        page_size_default=50,
        page_size_max=200,
        sort_fields=LEAD_SORT_FIELDS,
        filter_backends=[],
    )
    def leads(self, request, *args, **kwargs):
        segment = self.get_object()
        page = self.paginate_queryset(segment_leads(segment))
        return self.get_paginated_response(LeadSerializer(page, many=True).data)

    @extend_schema(
        summary="Preview unsaved rules",
        description="Counts and a sample without saving: `lead_count` (members), `suppressed_count` (matching "
        "leads left out because their address is suppressed), `sample` (up to 10 members, newest first). "
        "Needs `campaigns.view_segment` and `campaigns.view_lead`.",
        request=SegmentPreviewRequestSerializer,
        responses={200: SegmentPreviewResponseSerializer, **error_responses(400, 401, 403, 429)},
    )
    @action(detail=False, methods=["post"])
    def preview(self, request, *args, **kwargs):
        data = SegmentPreviewRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(SegmentPreviewResponseSerializer(rules_preview(data.validated_data["rules"])).data)
