"""Tracking events in the admin: read-only history, fast on millions of rows."""

from django.contrib import admin

from campaigns.admin import ByCampaignFilter, HistoryAdmin

from .models import EmailTracking


@admin.register(EmailTracking)
class EmailTrackingAdmin(HistoryAdmin):
    """Events are facts recorded by the tracking paths and webhooks: nobody adds or edits
    them by hand. Reach one campaign's events with `?campaign=<pk>`."""

    list_display = ["created_at", "event_type", "campaign", "campaign_recipient", "is_machine", "url", "ip_address"]
    list_filter = [ByCampaignFilter, "event_type", "is_machine"]
    # Exact address match: a substring search would scan every event.
    search_fields = ["=campaign_recipient__email_address", "=provider_event_id"]
    raw_id_fields = ["campaign_recipient", "campaign", "link"]
    list_select_related = ["campaign", "campaign_recipient"]
