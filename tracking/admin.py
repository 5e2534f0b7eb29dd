"""Tracking in the admin: events as read-only history, fast on millions of rows, and the
tracking figures (stats, analytics, top links) on the campaign page's statistics panel."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from campaigns.admin import ByCampaignFilter, HistoryAdmin, register_lead_panel, register_stats_panel

from .models import EmailTracking, Reply
from .selectors import campaign_analytics


@register_stats_panel
def tracking_stats_panel(campaign) -> dict:
    """The API's stats and analytics (endpoints 14 and 15) for the campaign page."""
    analytics = campaign_analytics(campaign=campaign)
    return {
        "stats": analytics["stats"],
        "series": {k: analytics[f"hourly_{k}"] for k in ("sends", "opens", "clicks")},
        "top_links": analytics.get("top_links", []),
        "analytics": analytics,  # every section, for the campaign's dashboard
        "inbox_url": reverse("admin:tracking_reply_changelist") + f"?campaign={campaign.pk}&kind__exact=reply",
    }


LEAD_EVENTS_SHOWN = 50


@register_lead_panel
def lead_events_panel(lead) -> dict:
    """The lead page's events, newest first: one query (through the recipients' lead index
    and the events' recipient index)."""
    events = (
        EmailTracking.objects.filter(campaign_recipient__lead=lead)
        .select_related("campaign")
        .only("created_at", "event_type", "is_machine", "url", "event_data", "user_agent", "campaign__name")
        .order_by("-created_at", "-id")[:LEAD_EVENTS_SHOWN]
    )
    rows = []
    for event in events:
        data = event.event_data if isinstance(event.event_data, dict) else {}
        detail = event.url or data.get("reason") or data.get("description") or event.user_agent
        rows.append(
            {
                "created_at": event.created_at,
                "campaign": event.campaign.name if event.campaign else "-",
                "event_type": event.get_event_type_display(),
                "is_machine": event.is_machine,
                "detail": detail,
            }
        )
    return {"events": rows, "events_max": LEAD_EVENTS_SHOWN}


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


@admin.register(Reply)
class ReplyAdmin(HistoryAdmin):
    """The inbox: every campaign's replies (`?campaign=<pk>` for one campaign's, linked from
    its statistics panel), each with its text, sender and step, linked to the lead."""

    list_display = ["received_at", "kind", "sender", "subject", "excerpt", "step", "lead_link", "campaign"]
    list_filter = [ByCampaignFilter, "kind"]
    search_fields = ["=recipient__email_address", "=message_id"]
    raw_id_fields = ["campaign", "recipient", "event"]
    list_select_related = ["campaign", "recipient"]
    ordering = ["-received_at", "-pk"]

    @admin.display(description="from")
    def sender(self, obj):
        return obj.from_header

    @admin.display(description="text")
    def excerpt(self, obj):
        return obj.text[:140] + ("…" if len(obj.text) > 140 else "")

    @admin.display(description="lead")
    def lead_link(self, obj):
        lead_id = obj.recipient.lead_id
        if lead_id is None:
            return obj.recipient.email_address
        url = reverse("admin:campaigns_lead_change", args=[lead_id])
        return format_html('<a href="{}">{}</a>', url, obj.recipient.email_address)
