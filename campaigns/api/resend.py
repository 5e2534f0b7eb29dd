"""`POST /campaigns/{id}/resend` (a new campaign for the non-openers / non-clickers /
non-repliers) and `POST /campaigns/{id}/retry` (send the failures that may pass now)."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fliptech.api import error_responses
from fliptech.parsers import JSONParser

from .. import resend
from ..selectors import campaign_get
from ..serializers.campaigns import CampaignResponseSerializer, FutureDateTimeField
from .recipients import CAMPAIGN_PARAMETER


class ResendRequestSerializer(serializers.Serializer):
    audience = serializers.ChoiceField(choices=sorted(resend.AUDIENCES))
    name = serializers.CharField(max_length=255, required=False, allow_blank=False)
    subject = serializers.CharField(max_length=255, required=False, allow_blank=False)
    scheduled_at = FutureDateTimeField(required=False)


class RetryResponseSerializer(serializers.Serializer):
    requeued = serializers.IntegerField()
    campaign = CampaignResponseSerializer()


class _Perm(permissions.BasePermission):
    perms = ()

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perms(view.perms))


class CampaignResendView(APIView):
    permission_classes = [permissions.IsAuthenticated, _Perm]
    perms = ("campaigns.add_campaign", "campaigns.add_campaignrecipient")
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["campaigns"],
        summary="Resend to the non-openers, non-clickers or non-repliers",
        description="A new campaign (draft, or scheduled at `scheduled_at`) with the same content and steps, "
        "whose recipients are the people whose message was delivered (sent, not bounced, not unsubscribed, not "
        "suppressed) and who did not open / click / reply (people only). From a running, paused or completed "
        "campaign; else 409.",
        parameters=[CAMPAIGN_PARAMETER],
        request=ResendRequestSerializer,
        responses={201: CampaignResponseSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, id):
        campaign = campaign_get(key=id)
        data = ResendRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        new = resend.campaign_resend(campaign=campaign, user=request.user, **data.validated_data)
        return Response(CampaignResponseSerializer(new).data, status=status.HTTP_201_CREATED)


class CampaignRetryView(APIView):
    permission_classes = [permissions.IsAuthenticated, _Perm]
    perms = ("campaigns.change_campaign",)
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["campaigns"],
        summary="Retry the failures that may pass now",
        description="Completed or failed → running: recipients that failed after transient errors (gave up "
        "after SEND_MAX_ATTEMPTS) go back to pending; never one interrupted in flight, permanently refused or "
        "suppressed. Else 409.",
        parameters=[CAMPAIGN_PARAMETER],
        request=None,
        responses={200: RetryResponseSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request, id):
        campaign = campaign_get(key=id)
        requeued, campaign = resend.campaign_retry(campaign=campaign)
        return Response({"requeued": requeued, "campaign": CampaignResponseSerializer(campaign).data})
