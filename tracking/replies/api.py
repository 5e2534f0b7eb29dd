"""`GET /api/v1/campaigns/{id}/replies`: the campaign's replies (people's, not automatic
ones), newest first, paginated like every list."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers

from campaigns.selectors import campaign_get
from fliptech.api import error_responses, paginated

from ..models import Reply


class ReplySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    recipient_id = serializers.IntegerField(read_only=True)
    email_address = serializers.CharField(source="recipient.email_address", read_only=True)
    subject = serializers.CharField(read_only=True)
    text = serializers.CharField(read_only=True, help_text="The new text, without the quoted message.")
    received_at = serializers.DateTimeField(read_only=True)
    step = serializers.IntegerField(read_only=True, help_text="The message it answered: 0 = the first.")

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: declared here, in the answer's field order.
        sender = serializers.CharField(source="from_header", read_only=True, help_text="The From header.")
        order = ["id", "recipient_id", "email_address", "from", "subject", "text", "received_at", "step"]
        fields["from"] = sender
        return {name: fields[name] for name in order}


class ReplyPermissions(permissions.BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("tracking.view_reply"))


class CampaignRepliesView(generics.GenericAPIView):
    queryset = Reply.objects.none()
    serializer_class = ReplySerializer
    permission_classes = [permissions.IsAuthenticated, ReplyPermissions]
    pagination_class = paginated("replies")
    page_size_default = 50
    page_size_max = 200
    sort_fields = ["received_at"]
    sort_default = "received_at"

    @extend_schema(
        tags=["campaigns"],
        summary="A campaign's replies",
        description='Newest first: `{"replies": […], "total", "page", "page_size", "has_more"}`. '
        "Automatic replies (out of office …) are recorded as `auto_reply` events, not listed here.",
        parameters=[OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: ReplySerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request, id):
        campaign = campaign_get(key=id)
        rows = (
            Reply.objects.filter(campaign_id=campaign.pk, kind=Reply.Kind.REPLY)
            .select_related("recipient")
            .order_by("-received_at", "-id")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ReplySerializer(page, many=True).data)
