"""Email templates CRUD under /api/v1/templates, and the preview."""

from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fliptech.api import error_responses, paginated
from fliptech.permissions import ModelPermissions

from .. import rendering
from ..exceptions import InvalidState
from ..filters import TemplateFilter
from ..models import Campaign, EmailTemplate, Lead
from ..serializers.templates import (
    EmailTemplateSerializer,
    TemplatePreviewRequestSerializer,
    TemplatePreviewResponseSerializer,
)


class TemplateInUse(InvalidState):
    default_message = "The template is used by a campaign."
    default_code = "template_in_use"


class TemplatePermissions(ModelPermissions):
    """Reads need `campaigns.view_emailtemplate`, writes the model permission. The preview
    changes nothing: it is a read of the template (and of the lead, `campaigns.view_lead`,
    when `lead_id` personalises it)."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) == "preview":
            user = request.user
            needed = ["campaigns.view_emailtemplate"]
            if isinstance(request.data, dict) and request.data.get("lead_id") not in (None, ""):
                needed.append("campaigns.view_lead")
            return bool(user and user.is_authenticated and user.has_perms(needed))
        return super().has_permission(request, view)


@extend_schema_view(
    list=extend_schema(
        summary="List email templates",
        description='Paginated `{"templates": […], "total", "page", "page_size", "has_more"}` (page_size 1–100, '
        "default 20).",
        responses={200: EmailTemplateSerializer(many=True), **error_responses(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="Get an email template", responses={200: EmailTemplateSerializer, **error_responses(401, 403, 404, 429)}
    ),
    create=extend_schema(
        summary="Create an email template",
        description="Subject and bodies must compile as Django templates: else 400 with the line and "
        "message per field (`subject`, `body_html`, `body_text`).",
        responses={201: EmailTemplateSerializer, **error_responses(400, 401, 403, 413, 429)},
    ),
    update=extend_schema(
        summary="Replace an email template",
        responses={200: EmailTemplateSerializer, **error_responses(400, 401, 403, 404, 413, 429)},
    ),
    partial_update=extend_schema(
        summary="Update some fields of an email template",
        responses={200: EmailTemplateSerializer, **error_responses(400, 401, 403, 404, 413, 429)},
    ),
    destroy=extend_schema(
        summary="Delete an email template",
        description="Refused (409 `template_in_use`) while any campaign, even a deleted one, uses it.",
        responses={204: None, **error_responses(401, 403, 404, 409, 429)},
    ),
)
class EmailTemplateViewSet(viewsets.ModelViewSet):
    queryset = EmailTemplate.objects.all()
    serializer_class = EmailTemplateSerializer
    permission_classes = [permissions.IsAuthenticated, TemplatePermissions]
    filterset_class = TemplateFilter
    pagination_class = paginated("templates")
    page_size_default = 20
    page_size_max = 100
    sort_fields = ["created_at", "updated_at", "name", "category"]
    sort_default = "created_at"
    lookup_value_regex = r"[0-9]{1,18}"

    def perform_destroy(self, instance):
        # Soft-deleted campaigns keep their template too: the row still points at it.
        used = Campaign.all_objects.filter(template=instance).count()
        if used:
            raise TemplateInUse(f"The template is used by {used} campaign(s); it cannot be deleted.")
        try:
            instance.delete()
        except ProtectedError:  # a campaign took it meanwhile
            raise TemplateInUse() from None

    @extend_schema(
        summary="Preview an email template",
        description="The subject, HTML and text a recipient would get (minus tracking), personalised with "
        "`lead_id`'s lead or with sample data. Needs `campaigns.view_emailtemplate` (and `campaigns.view_lead` "
        "with `lead_id`). Over the render budget (TEMPLATE_RENDER_TIMEOUT, TEMPLATE_MAX_BYTES): 400 "
        "`template_too_costly`; a template that does not render: 400 `template_error`, naming the line.",
        request=TemplatePreviewRequestSerializer,
        responses={200: TemplatePreviewResponseSerializer, **error_responses(400, 401, 403, 404, 413, 429)},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def preview(self, request, *args, **kwargs):
        template = self.get_object()
        data = TemplatePreviewRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = None
        lead_id = data.validated_data.get("lead_id")
        if lead_id is not None:
            lead = Lead.objects.filter(pk=lead_id).first()
            if lead is None:
                raise serializers.ValidationError({"lead_id": ["No lead with this id."]})
        return Response(TemplatePreviewResponseSerializer(rendering.render_preview(template=template, lead=lead)).data)
