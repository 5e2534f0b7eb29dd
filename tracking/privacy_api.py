"""A lead's export and erasure (CONTRACT.md, Privacy and safety): `GET /api/v1/leads/{id}/export`
and `POST /api/v1/leads/{id}/erase`. Thin views over `tracking.privacy`."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Lead
from fliptech.api import error_responses
from fliptech.ids import parse_pk
from fliptech.permissions import requires

from . import privacy

LEAD_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The lead's id.")


def _lead(id) -> Lead:
    pk = parse_pk(id)
    lead = Lead.objects.filter(pk=pk).first() if pk is not None else None
    if lead is None:
        raise Http404("No lead matches the given id.")
    return lead


class LeadEraseResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    lead_id = serializers.IntegerField()
    recipients = serializers.IntegerField(help_text="Recipient rows whose address and names were replaced.")
    recipients_stopped = serializers.IntegerField(help_text="Of them, not yet sent: now failed (`erased`).")
    events = serializers.IntegerField(help_text="Events whose IP, user agent and data were cleared.")
    replies = serializers.IntegerField(help_text="Replies deleted.")
    links = serializers.IntegerField(help_text="Tracked links that carried the address, deleted.")
    import_rows = serializers.IntegerField(help_text="Import error rows that carried the address, deleted.")
    suppressed = serializers.BooleanField(help_text="A one-way hash of the address stays suppressed.")


EXPORT_SCHEMA = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description='`{"lead": Lead, "recipients": [...], "events": [...], "replies": [...], "suppression": '
    '{"email", "reason", "source", "created_at"} | null}`: every datum stored about the lead.',
)


class LeadExportDataView(APIView):
    permission_classes = [
        permissions.IsAuthenticated,
        requires(
            "campaigns.view_lead",
            "campaigns.view_campaignrecipient",
            "tracking.view_emailtracking",
            "campaigns.view_suppression",
        ),
    ]

    @extend_schema(
        tags=["leads"],
        operation_id="lead_data_export",
        summary="Export everything stored about a lead",
        description="Its fields, every campaign recipient made from it, their "
        "events with IP address and user agent, its replies and the address's suppression. Needs "
        "`campaigns.view_lead`, `campaigns.view_campaignrecipient`, `tracking.view_emailtracking` and "
        "`campaigns.view_suppression`.",
        parameters=[LEAD_ID],
        responses={200: EXPORT_SCHEMA, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request, id):
        return Response(privacy.lead_export(lead=_lead(id)))


class LeadEraseView(APIView):
    permission_classes = [
        permissions.IsAuthenticated,
        requires(
            "campaigns.delete_lead",
            "campaigns.change_campaignrecipient",
            "tracking.change_emailtracking",
            "tracking.delete_emailtracking",
        ),
    ]

    @extend_schema(
        tags=["leads"],
        operation_id="lead_erase",
        summary="Erase a lead's personal data",
        description="The lead is deleted; its recipients' address becomes `erased-<id>@erased.invalid` and "
        "their names empty (one not yet sent is failed, `erased`); its events lose IP address, user agent "
        "and data; its replies are deleted; a one-way hash of the address stays suppressed, so it is "
        "never mailed again. Afterwards no API answer or admin page shows the address. Cannot be undone. "
        "Needs `campaigns.delete_lead`, `campaigns.change_campaignrecipient`, "
        "`tracking.change_emailtracking` and `tracking.delete_emailtracking`.",
        parameters=[LEAD_ID],
        request=None,
        responses={200: LeadEraseResponseSerializer, **error_responses(401, 403, 404, 429)},
    )
    def post(self, request, id):
        counts = privacy.lead_erase(lead=_lead(id))
        body = {"success": True, "message": f"Lead {counts['lead_id']} erased.", **counts}
        return Response(LeadEraseResponseSerializer(body).data)
