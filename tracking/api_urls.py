"""API paths of the tracking app (14–19), with or without a trailing slash.

Included before `campaigns/urls.py`, so `campaigns/tracking/…` is never read as a campaign id.
"""

from django.urls import re_path

from . import api, privacy_api
from .replies.api import CampaignRepliesView

RID = r"(?P<rid>[^/]+)"
ID = r"(?P<id>[^/]+)"

urlpatterns = [
    re_path(rf"^campaigns/tracking/{RID}/open/?$", api.TrackOpenView.as_view(), name="tracking-api-open"),
    re_path(rf"^campaigns/tracking/{RID}/click/?$", api.TrackClickView.as_view(), name="tracking-api-click"),
    re_path(rf"^campaigns/tracking/{RID}/bounce/?$", api.TrackBounceView.as_view(), name="tracking-api-bounce"),
    re_path(rf"^campaigns/tracking/{RID}/events/?$", api.RecipientEventsView.as_view(), name="tracking-api-events"),
    re_path(rf"^campaigns/{ID}/stats/?$", api.CampaignStatsView.as_view(), name="campaign-stats"),
    re_path(rf"^campaigns/{ID}/analytics/?$", api.CampaignAnalyticsView.as_view(), name="campaign-analytics"),
    re_path(rf"^campaigns/{ID}/replies/?$", CampaignRepliesView.as_view(), name="campaign-replies"),
    # A lead's data on request (tracking.privacy): before campaigns/urls.py's lead routes.
    re_path(rf"^leads/{ID}/export/?$", privacy_api.LeadExportDataView.as_view(), name="lead-data-export"),
    re_path(rf"^leads/{ID}/erase/?$", privacy_api.LeadEraseView.as_view(), name="lead-erase"),
]
