"""`/api/v1/webhooks` (CRUD) and `/api/v1/webhooks/{id}/deliveries` (the delivery log)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, viewsets
from rest_framework.decorators import action

from fliptech.api import error_responses, paginated
from fliptech.ids import parse_pk

from .models import WebhookDelivery, WebhookEndpoint
from .serializers import DeliveryQuerySerializer, WebhookDeliverySerializer, WebhookEndpointSerializer


class WebhookPermissions(permissions.DjangoModelPermissions):
    """Reads need `webhooks.view_webhookendpoint` (the log also `view_webhookdelivery`),
    writes the matching add/change/delete permission."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if getattr(view, "action", None) == "deliveries":
            return request.user.has_perm("webhooks.view_webhookdelivery")
        return True


@extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints",
        description='Paginated `{"webhooks": […], "total", "page", "page_size", "has_more"}` (page_size 1–100, '
        "default 20).",
        responses={200: WebhookEndpointSerializer(many=True), **error_responses(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="Get a webhook endpoint",
        responses={200: WebhookEndpointSerializer, **error_responses(401, 403, 404, 429)},
    ),
    create=extend_schema(
        summary="Create a webhook endpoint",
        description="Each event of `events` is POSTed as JSON `{id, type, created_at, data}` signed with `secret` "
        "(docs/webhooks.md). A URL resolving to a loopback, link-local or private address is a 400.",
        responses={201: WebhookEndpointSerializer, **error_responses(400, 401, 403, 429)},
    ),
    update=extend_schema(
        summary="Replace a webhook endpoint",
        responses={200: WebhookEndpointSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    partial_update=extend_schema(
        summary="Update some fields of a webhook endpoint",
        description="`active: false` holds its deliveries (they wait, pending) until it is active again.",
        responses={200: WebhookEndpointSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    destroy=extend_schema(
        summary="Delete a webhook endpoint and its delivery log",
        responses={204: None, **error_responses(401, 403, 404, 429)},
    ),
)
class WebhookEndpointViewSet(viewsets.ModelViewSet):
    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    permission_classes = [permissions.IsAuthenticated, WebhookPermissions]
    pagination_class = paginated("webhooks")
    page_size_default = 20
    page_size_max = 100
    sort_fields = ["created_at", "updated_at", "url"]
    sort_default = "created_at"
    lookup_value_regex = r"[^/]+"
    filter_backends = []

    def get_object(self):
        pk = parse_pk(self.kwargs["pk"])
        endpoint = WebhookEndpoint.objects.filter(pk=pk).first() if pk is not None else None
        if endpoint is None:
            raise Http404("No webhook endpoint matches the given id.")
        self.check_object_permissions(self.request, endpoint)
        return endpoint

    @extend_schema(
        summary="A webhook endpoint's deliveries",
        description='Paginated `{"deliveries": […], "total", "page", "page_size", "has_more"}`, newest first '
        "(page_size 1–200, default 50), optionally filtered by `status` and `type`. Needs "
        "`webhooks.view_webhookdelivery` too.",
        parameters=[
            OpenApiParameter("status", enum=[s for s, _ in WebhookDelivery.Status.choices]),
            OpenApiParameter("type", description="An event type, e.g. `message.opened`."),
        ],
        responses={200: WebhookDeliverySerializer(many=True), **error_responses(400, 401, 403, 404, 429)},
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=paginated("deliveries"),
        page_size_default=50,
        page_size_max=200,
        sort_fields=["id"],
        sort_default="id",
    )
    def deliveries(self, request, *args, **kwargs):
        endpoint = self.get_object()
        query = DeliveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint, **query.validated_data)
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
