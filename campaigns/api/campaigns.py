"""Campaign endpoints 1–5 and 10–13: CRUD and the launch/pause/resume/test actions.

Thin: a serializer validates, one service or selector call does the work, a serializer
shapes the answer. The rules live in campaigns.services.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fliptech.api import error_responses, paginated
from fliptech.permissions import ModelPermissions

from .. import checklist, services, states
from ..filters import CampaignFilter
from ..models import Campaign
from ..selectors import campaign_get, campaign_metrics, campaign_pending_count
from ..serializers.campaigns import (
    CampaignCreateSerializer,
    CampaignResponseSerializer,
    CampaignUpdateSerializer,
    ChecklistSerializer,
    DeleteCampaignResponseSerializer,
    LaunchCampaignSerializer,
    NotReadySerializer,
    PauseCampaignResponseSerializer,
    SendTestEmailSerializer,
    SuccessResponseSerializer,
)

ID_PARAMETER = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The campaign's numeric id or its public id (`camp_` + 12 hex characters).",
)


class CampaignPermissions(ModelPermissions):
    """Reads: `campaigns.view_campaign`. Writes: the model permission of the method; the
    actions (launch, pause, resume, test) change a campaign, so they need
    `campaigns.change_campaign` although they are POSTs. A test message personalised
    with a lead (`lead_id`) reads that lead: also `campaigns.view_lead`."""

    CHANGE_ACTIONS = {"launch", "pause", "resume", "send_test"}

    def has_permission(self, request, view):
        if getattr(view, "action", None) in self.CHANGE_ACTIONS:
            if not (request.user and request.user.is_authenticated):
                return False
            needed = ["campaigns.change_campaign"]
            if isinstance(request.data, dict) and request.data.get("lead_id") not in (None, ""):
                needed.append("campaigns.view_lead")
            return request.user.has_perms(needed)
        return super().has_permission(request, view)


@extend_schema_view(
    list=extend_schema(
        summary="List campaigns",
        description='Paginated `{"campaigns": […], "total", "page", "page_size", "has_more"}`; '
        "soft-deleted campaigns are never listed.",
        responses={200: CampaignResponseSerializer(many=True), **error_responses(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="Get a campaign",
        parameters=[ID_PARAMETER],
        responses={200: CampaignResponseSerializer, **error_responses(401, 403, 404, 429)},
    ),
    create=extend_schema(
        summary="Create a campaign (draft)",
        description="`created_by` is set from the authenticated user. Sender fields left empty are "
        "filled from the server's defaults.",
        request=CampaignCreateSerializer,
        responses={201: CampaignResponseSerializer, **error_responses(400, 401, 403, 429)},
    ),
    update=extend_schema(
        summary="Update a campaign",
        description="Every field optional (PUT behaves like PATCH). Allowed in draft, scheduled and "
        "paused; content fields (template_id, subject, from_email, from_name, reply_to, "
        "track_opens, track_clicks) only in draft and scheduled — else 409 `invalid_state`. "
        "`status` is not writable: use the actions.",
        parameters=[ID_PARAMETER],
        request=CampaignUpdateSerializer,
        responses={200: CampaignResponseSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    ),
    partial_update=extend_schema(
        summary="Update some fields of a campaign",
        description="As PUT.",
        parameters=[ID_PARAMETER],
        request=CampaignUpdateSerializer,
        responses={200: CampaignResponseSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    ),
    destroy=extend_schema(
        summary="Delete a campaign (soft)",
        description="Afterwards the campaign is 404 everywhere and absent from lists; its name can be "
        "reused. Refused while running (409): pause it first.",
        parameters=[ID_PARAMETER],
        responses={200: DeleteCampaignResponseSerializer, **error_responses(401, 403, 404, 409, 429)},
    ),
)
@extend_schema(tags=["campaigns"])
class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Campaign.objects.select_related("created_by")
    serializer_class = CampaignResponseSerializer
    permission_classes = [permissions.IsAuthenticated, CampaignPermissions]
    filterset_class = CampaignFilter
    pagination_class = paginated("campaigns")
    page_size_default = 20
    page_size_max = 100
    sort_fields = ["created_at", "updated_at", "name", "started_at", "completed_at", "scheduled_at"]
    sort_default = "created_at"
    lookup_url_kwarg = "id"
    # Anything up to the next slash: campaign_get answers 404 for what is not an id.
    lookup_value_regex = "[^/]+"

    # Input serializers per action: used by the browsable API's forms (the views below
    # name their serializers explicitly).
    input_serializers = {
        "create": CampaignCreateSerializer,
        "update": CampaignUpdateSerializer,
        "partial_update": CampaignUpdateSerializer,
        "launch": LaunchCampaignSerializer,
        "send_test": SendTestEmailSerializer,
    }

    def get_serializer_class(self):
        return self.input_serializers.get(self.action, CampaignResponseSerializer)

    def get_object(self):
        campaign = campaign_get(key=self.kwargs[self.lookup_url_kwarg], queryset=self.get_queryset())
        self.check_object_permissions(self.request, campaign)
        return campaign

    def _answer(self, campaign, status_code=status.HTTP_200_OK):
        return Response(
            CampaignResponseSerializer(campaign, context=self.get_serializer_context()).data, status=status_code
        )

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        # One grouped query for the whole page's metrics.
        metrics = campaign_metrics(campaign_ids=[c.pk for c in page])
        serializer = CampaignResponseSerializer(
            page, many=True, context={**self.get_serializer_context(), "metrics": metrics}
        )
        return self.get_paginated_response(serializer.data)

    def create(self, request, *args, **kwargs):
        data = CampaignCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_create(user=request.user, **data.validated_data)
        return self._answer(campaign, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        campaign = self.get_object()
        data = CampaignUpdateSerializer(campaign, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_update(campaign=campaign, **data.validated_data)
        return self._answer(campaign)

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        campaign = services.campaign_delete(campaign=self.get_object())
        body = {
            "success": True,
            "message": f"Campaign {campaign.campaign_id} deleted.",
            "campaign_id": campaign.campaign_id,
            "deleted_at": campaign.deleted_at,
        }
        return Response(DeleteCampaignResponseSerializer(body).data)

    @extend_schema(
        summary="Launch (or schedule) a campaign",
        description=(
            "draft/scheduled → running (`send_immediately: true`, the default), or draft → "
            "scheduled (`send_immediately: false` with a future `scheduled_at` in the body or "
            "already on the campaign). Needs the pre-send checklist ready (`GET …/checklist`): "
            "when a check is an error (no pending recipient, no template or one that does not "
            "render, an empty subject, a spam score over SpamAssassin's threshold) the answer is "
            '409 `{"detail", "code": "not_ready", "checks": [the failing checks]}`; a template over '
            "the render budget is refused before that with 400 `template_too_costly`. "
            "Sending happens in the background. With `test_mode: true` only one test message "
            "goes to `test_email` (as `POST …/test`) and the campaign, its status included, "
            "is left unchanged; the answer is then the unchanged campaign."
        ),
        parameters=[ID_PARAMETER],
        request=LaunchCampaignSerializer,
        responses={
            200: CampaignResponseSerializer,
            **error_responses(400, 401, 403, 404, 429),
            409: OpenApiResponse(NotReadySerializer, description="`not_ready` (with `checks`) or `invalid_state`."),
        },
    )
    @action(detail=True, methods=["post"])
    def launch(self, request, *args, **kwargs):
        campaign = self.get_object()
        data = LaunchCampaignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_launch(campaign=campaign, user=request.user, **data.validated_data)
        return self._answer(campaign)

    @extend_schema(
        summary="Pre-send checklist",
        description=(
            "Every check of the campaign as it would be sent now: recipients, template_renders, subject, "
            "unsubscribe_link, text_part, images, links, tracking_https, dkim, spf, dmarc (DNS of the From "
            "domain; an unreachable DNS is a warning, never an error) and spam_score (SpamAssassin's spamd "
            'when SPAMD_URL is set, else ok "not checked"). `ready` is false exactly when a check is an '
            "error; launch answers 409 `not_ready` then. Levels: docs/deliverability.md."
        ),
        parameters=[ID_PARAMETER],
        responses={200: ChecklistSerializer, **error_responses(401, 403, 404, 429)},
    )
    @action(detail=True, methods=["get"])
    def checklist(self, request, *args, **kwargs):
        campaign = self.get_object()
        return Response(ChecklistSerializer(checklist.checklist(campaign=campaign)).data)

    def _pause_answer(self, campaign, message):
        body = {
            "success": True,
            "message": message,
            "campaign_id": campaign.campaign_id,
            "status": campaign.status,
            "paused_at": campaign.paused_at,
            "pending_recipients": campaign_pending_count(campaign=campaign),
        }
        return Response(PauseCampaignResponseSerializer(body).data)

    @extend_schema(
        summary="Pause a running campaign (or unschedule a scheduled one)",
        description=(
            "running → paused: no new message starts sending after this answer (messages "
            "already in flight may finish). scheduled → draft: the schedule is cancelled and "
            "`scheduled_at` cleared. Any other status: 409."
        ),
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: PauseCampaignResponseSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, *args, **kwargs):
        campaign = self.get_object()
        unscheduling = states.pause_action(campaign.status) == "unschedule"
        campaign = services.campaign_pause(campaign=campaign)
        if unscheduling:
            return self._pause_answer(campaign, "Campaign unscheduled; it is a draft again.")
        return self._pause_answer(campaign, "Campaign paused.")

    @extend_schema(
        summary="Resume a paused campaign",
        description="paused → running; only recipients not yet sent are sent. Any other status: 409.",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: PauseCampaignResponseSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, *args, **kwargs):
        campaign = services.campaign_resume(campaign=self.get_object())
        return self._pause_answer(campaign, "Campaign resumed.")

    @extend_schema(
        summary="Send a test message",
        description=(
            "One real message to `test_email`, subject prefixed `[TEST] `, personalised with "
            "`lead_id`'s lead (or sample data); not counted in stats, status unchanged. Allowed "
            "in every status; needs a template that renders."
        ),
        parameters=[ID_PARAMETER],
        request=SendTestEmailSerializer,
        responses={200: SuccessResponseSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request, *args, **kwargs):
        campaign = self.get_object()
        data = SendTestEmailSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        email, lead = data.validated_data["test_email"], data.validated_data.get("lead")
        services.campaign_send_test(campaign=campaign, test_email=email, lead=lead, user=request.user)
        body = {
            "success": True,
            "message": f"Test message queued for {email}.",
            "data": {"campaign_id": campaign.campaign_id, "test_email": email, "lead_id": lead.pk if lead else None},
        }
        return Response(SuccessResponseSerializer(body).data)
