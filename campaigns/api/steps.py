"""`/campaigns/{id}/steps`: a campaign's follow-up steps (list, add, read, change, remove).
Not paginated: a sequence has a handful of steps. Changes only while the campaign may be
edited (draft, scheduled, paused), else 409 `invalid_state`."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response

from fliptech.api import error_responses
from fliptech.parsers import JSONParser

from .. import steps as services
from ..models import CampaignStep
from ..selectors import campaign_get
from ..serializers.steps import CampaignStepListSerializer, CampaignStepSerializer
from .recipients import CAMPAIGN_PARAMETER


class StepPermissions(permissions.BasePermission):
    """Reads need `campaigns.view_campaign`; changes `campaigns.change_campaign` (steps
    are part of the campaign)."""

    def has_permission(self, request, view):
        perm = "campaigns.view_campaign" if request.method in permissions.SAFE_METHODS else "campaigns.change_campaign"
        return bool(request.user and request.user.has_perm(perm))


class _StepsBase(generics.GenericAPIView):
    queryset = CampaignStep.objects.all()
    serializer_class = CampaignStepSerializer
    permission_classes = [permissions.IsAuthenticated, StepPermissions]
    parser_classes = [JSONParser]
    pagination_class = None

    def get_campaign(self):
        return campaign_get(key=self.kwargs["id"])


class CampaignStepsView(_StepsBase):
    @extend_schema(
        operation_id="campaign_steps_list",
        summary="List a campaign's follow-up steps",
        parameters=[CAMPAIGN_PARAMETER],
        responses={200: CampaignStepListSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        campaign = self.get_campaign()
        rows = CampaignStep.objects.filter(campaign_id=campaign.pk).order_by("position")
        return Response({"steps": CampaignStepSerializer(rows, many=True).data})

    @extend_schema(
        summary="Add a follow-up step (last)",
        parameters=[CAMPAIGN_PARAMETER],
        request=CampaignStepSerializer,
        responses={201: CampaignStepSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, *args, **kwargs):
        campaign = self.get_campaign()
        serializer = CampaignStepSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        step = services.step_create(campaign=campaign, **serializer.validated_data)
        return Response(CampaignStepSerializer(step).data, status=status.HTTP_201_CREATED)


class CampaignStepView(_StepsBase):
    def get_step(self):
        return services.step_get(campaign=self.get_campaign(), key=self.kwargs["sid"])

    def get_object(self):  # DRF's OPTIONS asks for it (the URL's keys are `id` and `sid`)
        return self.get_step()

    @extend_schema(
        summary="Read a follow-up step",
        parameters=[CAMPAIGN_PARAMETER],
        responses={200: CampaignStepSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return Response(CampaignStepSerializer(self.get_step()).data)

    def _update(self, request, partial):
        step = self.get_step()
        serializer = CampaignStepSerializer(step, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        step = services.step_update(step=step, **serializer.validated_data)
        return Response(CampaignStepSerializer(step).data)

    @extend_schema(
        summary="Change a follow-up step",
        parameters=[CAMPAIGN_PARAMETER],
        request=CampaignStepSerializer,
        responses={200: CampaignStepSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def put(self, request, *args, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some fields of a follow-up step",
        parameters=[CAMPAIGN_PARAMETER],
        request=CampaignStepSerializer,
        responses={200: CampaignStepSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def patch(self, request, *args, **kwargs):
        return self._update(request, partial=True)

    @extend_schema(
        summary="Remove a follow-up step (later ones move up)",
        parameters=[CAMPAIGN_PARAMETER],
        responses={200: CampaignStepListSerializer, **error_responses(401, 403, 404, 409)},
    )
    def delete(self, request, *args, **kwargs):
        step = self.get_step()
        campaign_id = step.campaign_id
        services.step_delete(step=step)
        rows = CampaignStep.objects.filter(campaign_id=campaign_id).order_by("position")
        return Response({"steps": CampaignStepSerializer(rows, many=True).data})
