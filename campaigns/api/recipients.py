"""Endpoints 7–9: add, list and remove a campaign's recipients."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from fliptech.api import error_responses, paginated
from fliptech.ids import parse_pk
from fliptech.parsers import JSONParser
from fliptech.permissions import ModelPermissions, requires

from .. import audience
from ..filters import RecipientFilter
from ..models import CampaignRecipient
from ..selectors import campaign_get
from ..serializers.recipients import (
    AddRecipientsRequestSerializer,
    BulkOperationResponseSerializer,
    CampaignRecipientSerializer,
    RecipientRemoveResponseSerializer,
)

CAMPAIGN_PARAMETER = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The campaign's numeric id or its public id (`camp_` + 12 hex characters).",
)
RECIPIENT_PARAMETER = OpenApiParameter(
    "rid", OpenApiTypes.INT, OpenApiParameter.PATH, description="The recipient's id."
)


class RecipientPermissions(ModelPermissions):
    """Reading recipients needs `campaigns.view_campaignrecipient` and
    `campaigns.view_campaign`. Adding and removing recipients changes the campaign:
    `campaigns.change_campaign`; adding lead objects (`leads`) creates and overwrites leads,
    so it also needs `campaigns.add_lead` and `campaigns.change_lead`."""

    perms_map = {
        **ModelPermissions.perms_map,
        "GET": [*ModelPermissions.perms_map["GET"], "campaigns.view_campaign"],
        "HEAD": [*ModelPermissions.perms_map["HEAD"], "campaigns.view_campaign"],
        "POST": ["campaigns.change_campaign"],
        "DELETE": ["campaigns.change_campaign"],
    }


def _writes_leads(request, view) -> bool:
    return isinstance(request.data, dict) and request.data.get("leads") not in (None, [])


class _CampaignRecipientsBase(generics.GenericAPIView):
    queryset = CampaignRecipient.objects.all()
    serializer_class = CampaignRecipientSerializer
    permission_classes = [
        permissions.IsAuthenticated,
        RecipientPermissions,
        requires("campaigns.add_lead", "campaigns.change_lead", methods=("POST",), when=_writes_leads),
    ]

    def get_campaign(self):
        return campaign_get(key=self.kwargs["id"])


class CampaignRecipientsView(_CampaignRecipientsBase):
    # JSON only: a form field cannot say "an empty filter" from "no filter" (415 otherwise).
    parser_classes = [JSONParser]  # ours: deep nesting is a 400, not a RecursionError
    filterset_class = RecipientFilter
    pagination_class = paginated("recipients")
    page_size_default = 50
    page_size_max = 200
    sort_fields = ["created_at", "updated_at", "email_address", "status", "sent_at", "opened_at", "clicked_at"]
    sort_default = "created_at"

    @extend_schema(
        summary="List a campaign's recipients",
        description='Paginated `{"recipients": […], "total", "page", "page_size", "has_more"}` '
        "(page_size 1–200, default 50).",
        parameters=[CAMPAIGN_PARAMETER],
        responses={200: CampaignRecipientSerializer(many=True), **error_responses(400, 401, 403, 404, 429)},
    )
    def get(self, request, *args, **kwargs):
        campaign = self.get_campaign()
        queryset = self.filter_queryset(CampaignRecipient.objects.filter(campaign_id=campaign.pk))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(CampaignRecipientSerializer(page, many=True).data)

    @extend_schema(
        summary="Add recipients",
        description=(
            "A set operation: `lead_ids` (1–10,000), `leads` (1–10,000 lead objects, upserted by "
            "email, case-insensitively) and/or `lead_filters` (every matching lead, any number). "
            "Together `lead_ids` and `leads` hold at most 10,000 items (413 `too_many_items` past "
            "that). Every item is accounted for: added (`successful`), duplicate in the request or "
            "already a recipient (`duplicates`), suppressed address (`suppressed`), unknown id, "
            "invalid lead object or no valid email (`invalid`); each not added has an entry in "
            "`errors`. For `lead_filters` only counts are reported (one `errors` line per "
            "category). Allowed in draft, scheduled and paused (else 409 `invalid_state`). Needs the "
            "`campaigns.change_campaign` permission (with `leads`, also `campaigns.add_lead` and "
            "`campaigns.change_lead`). JSON bodies only."
        ),
        parameters=[CAMPAIGN_PARAMETER],
        request=AddRecipientsRequestSerializer,
        responses={200: BulkOperationResponseSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 429)},
    )
    def post(self, request, *args, **kwargs):
        campaign = self.get_campaign()
        data = AddRecipientsRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = {key: value for key, value in data.validated_data.items() if value is not None}
        if "segment_id" in params:
            # Reading a segment's members is reading segments.
            if not request.user.has_perm("campaigns.view_segment"):
                raise PermissionDenied("Adding a segment needs the campaigns.view_segment permission.")
            params["segment"] = params.pop("segment_id")
        return Response(audience.recipients_add(campaign=campaign, **params))


class CampaignRecipientView(_CampaignRecipientsBase):
    @extend_schema(
        summary="Remove a recipient",
        description="Only while the recipient is `pending` and the campaign is not running (else 409 "
        "`invalid_state`); `total_recipients` goes down by one. Needs `campaigns.change_campaign`.",
        parameters=[CAMPAIGN_PARAMETER, RECIPIENT_PARAMETER],
        responses={200: RecipientRemoveResponseSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    def delete(self, request, *args, **kwargs):
        campaign = self.get_campaign()
        rid = parse_pk(self.kwargs["rid"])
        recipient = CampaignRecipient.objects.filter(pk=rid, campaign_id=campaign.pk).first() if rid else None
        if recipient is None:
            raise Http404("No recipient matches the given id.")
        campaign = audience.recipient_remove(campaign=campaign, recipient=recipient)
        body = {
            "success": True,
            "message": f"Recipient {recipient.pk} ({recipient.email_address}) removed.",
            "data": {
                "recipient_id": recipient.pk,
                "campaign_id": campaign.pk,
                "total_recipients": campaign.total_recipients,
            },
        }
        return Response(body)
