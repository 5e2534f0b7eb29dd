"""A campaign's A/B test: `GET /api/v1/campaigns/{id}/ab` (the variants side by side) and
`POST /api/v1/campaigns/{id}/ab/winner` (choose now)."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fliptech.api import error_responses

from ..abtest.decide import choose
from ..abtest.results import ab_results
from ..exceptions import NotFound
from ..selectors import campaign_get
from .recipients import CAMPAIGN_PARAMETER


class ABPermissions(permissions.BasePermission):
    """Reading needs `campaigns.view_campaign`; choosing a winner `campaigns.change_campaign`."""

    def has_permission(self, request, view):
        user = request.user
        perm = "campaigns.view_campaign" if request.method in permissions.SAFE_METHODS else "campaigns.change_campaign"
        return bool(user and user.is_authenticated and user.has_perm(perm))


class ABVariantSerializer(serializers.Serializer):
    name = serializers.CharField()
    recipients = serializers.IntegerField(
        help_text="Recipients given this variant (test share, and the rest for the winner)."
    )
    sent = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="People only: machine opens never count.")
    clicked = serializers.IntegerField(help_text="People only: machine clicks never count.")
    replied = serializers.IntegerField()
    rate = serializers.FloatField(help_text="The metric's count / delivered (sent − bounced), percent, 2 places.")


class ABResultsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["testing", "decided", "completed"])
    variants = ABVariantSerializer(many=True)
    metric = serializers.ChoiceField(choices=["opens", "clicks", "replies"])
    leader = serializers.CharField(help_text="The variant with the best rate now.")
    winner = serializers.CharField(allow_null=True)
    significant = serializers.BooleanField(
        help_text="Two-sided two-proportion z-test, best vs runner-up, at α = 0.05 (docs/ab-tests.md)."
    )
    p_value = serializers.FloatField(allow_null=True, help_text="Null until both have delivered messages.")
    confidence = serializers.FloatField(help_text="(1 − p_value) × 100, 2 places.")
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.ChoiceField(choices=["auto", "manual"], allow_null=True)


class ABWinnerRequestSerializer(serializers.Serializer):
    variant = serializers.CharField(max_length=100, help_text="The winning variant's name.")


def _results_of(campaign):
    found = ab_results(campaign)
    if found is None:
        raise NotFound("This campaign has no A/B test.", code="no_ab_test")
    return found


class CampaignABView(APIView):
    permission_classes = [ABPermissions]

    @extend_schema(
        summary="A campaign's A/B test",
        description="The variants side by side (people only), the leader, and whether its lead is significant. "
        "404 when the campaign has no A/B test.",
        parameters=[CAMPAIGN_PARAMETER],
        responses={200: ABResultsSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request, id):
        return Response(ABResultsSerializer(_results_of(campaign_get(key=id))).data)


class CampaignABWinnerView(APIView):
    permission_classes = [ABPermissions]

    @extend_schema(
        summary="Choose the A/B winner now",
        description="Manual selection, or earlier than `duration`: the held recipients go out with this variant. "
        "409 when the campaign has no test, has not been launched, has ended, or the test is decided; 400 for an "
        "unknown variant name.",
        parameters=[CAMPAIGN_PARAMETER],
        request=ABWinnerRequestSerializer,
        responses={200: ABResultsSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request, id):
        campaign = campaign_get(key=id)
        body = ABWinnerRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        choose(campaign=campaign, variant=body.validated_data["variant"])
        return Response(ABResultsSerializer(_results_of(campaign)).data)
