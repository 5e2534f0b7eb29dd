"""Endpoints 14–19: campaign stats and analytics, and recording events by API.

Thin views: validate with a serializer, call one service or selector, shape the answer.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import CampaignLink, CampaignRecipient
from campaigns.selectors import campaign_counters, campaign_get
from fliptech.api import error_responses
from fliptech.ids import parse_pk
from fliptech.permissions import requires

from . import selectors, services
from .models import EmailTracking
from .serializers import (
    CampaignAnalyticsResponseSerializer,
    CampaignStatsResponseSerializer,
    EmailTrackingResponseSerializer,
    TrackBounceRequestSerializer,
    TrackClickRequestSerializer,
    TrackEmailEventRequestSerializer,
    TrackingEventsListResponseSerializer,
)

EventType = EmailTracking.EventType

EVENTS_LIST_MAX = 500
# Analytics of a big campaign aggregate every event. A dashboard polling it gets the answer
# computed for the campaign's current version — its counters, status and newest event — so a
# cached answer is never stale: any send, event or change makes a new version. Stats are cheap
# (trigger-kept counters) and never cached. TRACKING_ANALYTICS_CACHE_SECONDS bounds how long an
# unchanged campaign's analytics stay in the cache (0 = never cached).


def _cached_analytics(campaign, compute):
    seconds = getattr(settings, "TRACKING_ANALYTICS_CACHE_SECONDS", 300)
    if not seconds:
        return compute()
    counters = campaign_counters(campaign_ids=[campaign.pk])[campaign.pk]
    version = (
        campaign.status,
        campaign.updated_at.isoformat(),
        selectors.last_event_at(campaign=campaign),
        tuple(sorted(counters.items())),
    )
    key = f"tracking:analytics:{campaign.pk}:{hashlib.sha256(repr(version).encode()).hexdigest()}"
    try:
        data = cache.get(key)
    except Exception:  # a cache that is down costs speed, not the answer
        return compute()
    if data is None:
        data = compute()
        try:
            cache.set(key, data, seconds)
        except Exception:
            pass
    return data


class CanRecordEvents(permissions.BasePermission):
    """Recording an event needs `tracking.add_emailtracking` (reads are separate views)."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.user.has_perm("tracking.add_emailtracking")


# Reads (CONTRACT.md, Auth): each needs the view permission of every model it shows.
CAN_READ_EVENTS = requires("tracking.view_emailtracking", "campaigns.view_campaignrecipient")
CAN_READ_STATS = requires("campaigns.view_campaign")
# Analytics names people (top openers and clickers) and aggregates their events.
CAN_READ_ANALYTICS = requires(
    "campaigns.view_campaign", "campaigns.view_campaignrecipient", "tracking.view_emailtracking"
)


def _errors(*codes):
    return error_responses(*codes, 429)


RID = OpenApiParameter("rid", OpenApiTypes.INT, OpenApiParameter.PATH, description="The recipient's numeric id.")
CAMPAIGN_ID = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Numeric id or public `camp_…` id."
)


def recipient_get(rid) -> CampaignRecipient:
    """The recipient `rid` of a live (not soft-deleted) campaign; Http404 otherwise."""
    pk = parse_pk(rid)
    if pk is None:
        raise Http404("No recipient matches the given id.")
    try:
        return CampaignRecipient.objects.select_related("campaign").get(pk=pk, campaign__deleted_at__isnull=True)
    except CampaignRecipient.DoesNotExist:
        raise Http404("No recipient matches the given id.") from None


class _TrackView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanRecordEvents]
    request_serializer = TrackEmailEventRequestSerializer
    event_type = None

    def extra(self, recipient, data) -> dict:
        return {}

    def post(self, request, rid):
        recipient = recipient_get(rid)
        serializer = self.request_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event = services.event_record(
            recipient=recipient,
            event_type=self.event_type,
            event_data=data["event_data"],
            user_agent=data["user_agent"],
            ip_address=data["ip_address"],
            **self.extra(recipient, data),
        )
        return Response(EmailTrackingResponseSerializer(event).data, status=status.HTTP_201_CREATED)


_TRACK_DOC = (
    "Records the event exactly like the public tracking paths (same service). The path "
    "decides the event type; `event_type` in the body is ignored."
)


@extend_schema(
    tags=["tracking"],
    summary="Record an open",
    description=_TRACK_DOC,
    parameters=[RID],
    request=TrackEmailEventRequestSerializer,
    responses={201: EmailTrackingResponseSerializer, **_errors(400, 401, 403, 404)},
)
class TrackOpenView(_TrackView):
    event_type = EventType.OPEN


@extend_schema(
    tags=["tracking"],
    summary="Record a click",
    description=_TRACK_DOC + " The link is `url` or `event_data.url`; a URL that is one of the "
    "campaign's tracked links is linked to it.",
    parameters=[RID],
    request=TrackClickRequestSerializer,
    responses={201: EmailTrackingResponseSerializer, **_errors(400, 401, 403, 404)},
)
class TrackClickView(_TrackView):
    event_type = EventType.CLICK
    request_serializer = TrackClickRequestSerializer

    def extra(self, recipient, data):
        url = data["url"]
        link = None
        if url:
            link = CampaignLink.objects.filter(
                campaign_id=recipient.campaign_id, url_hash=CampaignLink.hash_url(url)
            ).first()
        return {"url": url, "link": link}


@extend_schema(
    tags=["tracking"],
    summary="Record a bounce",
    description=_TRACK_DOC + ' `event_data.bounce_type` is "hard" (default: the recipient becomes '
    'bounced and the address is suppressed for every future campaign) or "soft" (recorded only); '
    "`event_data.reason` says why.",
    parameters=[RID],
    request=TrackBounceRequestSerializer,
    responses={201: EmailTrackingResponseSerializer, **_errors(400, 401, 403, 404)},
)
class TrackBounceView(_TrackView):
    event_type = EventType.BOUNCE
    request_serializer = TrackBounceRequestSerializer


@extend_schema(
    tags=["tracking"],
    summary="A recipient's events",
    parameters=[RID],
    description=f"Newest first; at most {EVENTS_LIST_MAX} events (`total_events` counts all).",
    responses={200: TrackingEventsListResponseSerializer, **_errors(401, 403, 404)},
)
class RecipientEventsView(APIView):
    permission_classes = [permissions.IsAuthenticated, CAN_READ_EVENTS]

    def get(self, request, rid):
        recipient = recipient_get(rid)
        events = EmailTracking.objects.filter(campaign_recipient=recipient).order_by("-created_at", "-id")
        rows = list(events[:EVENTS_LIST_MAX])
        total = len(rows) if len(rows) < EVENTS_LIST_MAX else events.count()
        return Response(
            {
                "recipient_id": recipient.pk,
                "email_address": recipient.email_address,
                "events": EmailTrackingResponseSerializer(rows, many=True).data,
                "total_events": total,
            }
        )


@extend_schema(
    tags=["campaigns"],
    summary="Campaign stats",
    parameters=[CAMPAIGN_ID],
    description="Live figures: read from counters the database keeps with every change.",
    responses={200: CampaignStatsResponseSerializer, **_errors(401, 403, 404)},
)
class CampaignStatsView(APIView):
    permission_classes = [permissions.IsAuthenticated, CAN_READ_STATS]

    def get(self, request, id):
        campaign = campaign_get(key=id)
        return Response(CampaignStatsResponseSerializer(selectors.campaign_stats(campaign=campaign)).data)


@extend_schema(
    tags=["campaigns"],
    summary="Campaign analytics",
    parameters=[CAMPAIGN_ID],
    description="Stats plus breakdowns. Locations are ISO countries from an offline IP→country "
    'dataset (iptocc; MaxMind\'s GeoLite2 when `GEOIP_PATH` is set), "Unknown" for private or '
    "unlisted addresses. Never stale: a cached answer is served only "
    "while the campaign's counters, status and newest event are unchanged.",
    responses={200: CampaignAnalyticsResponseSerializer, **_errors(401, 403, 404)},
)
class CampaignAnalyticsView(APIView):
    permission_classes = [permissions.IsAuthenticated, CAN_READ_ANALYTICS]

    def get(self, request, id):
        campaign = campaign_get(key=id)
        return Response(
            _cached_analytics(
                campaign,
                lambda: CampaignAnalyticsResponseSerializer(selectors.campaign_analytics(campaign=campaign)).data,
            )
        )
