"""Recipients and tracked links: the campaign's read-only history, reached by campaign."""

from django.contrib import admin

from ..models import CampaignLink, CampaignRecipient
from .shared import ByCampaignFilter, HistoryAdmin


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(HistoryAdmin):
    """Recipients are the campaign's history: read-only here. They are added through
    the API (endpoint 7) and change through sending and tracking."""

    list_display = [
        "email_address",
        "campaign",
        "status",
        "sent_at",
        "opened_at",
        "clicked_at",
        "open_count",
        "click_count",
        "error_message",
    ]
    list_filter = [ByCampaignFilter, "status"]
    search_fields = ["email_address", "first_name", "last_name", "=message_id"]
    raw_id_fields = ["campaign", "lead"]
    list_select_related = ["campaign"]


@admin.register(CampaignLink)
class CampaignLinkAdmin(HistoryAdmin):
    list_display = ["url", "campaign", "created_at"]
    list_filter = [ByCampaignFilter]
    search_fields = ["url"]
    raw_id_fields = ["campaign"]
    list_select_related = ["campaign"]
