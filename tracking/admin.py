"""Tracking events in the admin: read-only history, fast on millions of rows."""

from django.contrib import admin

from campaigns.admin import ByCampaignFilter, EstimatedCountPaginator

from .models import EmailTracking


@admin.register(EmailTracking)
class EmailTrackingAdmin(admin.ModelAdmin):
    """Events are facts recorded by the tracking paths and webhooks: nobody adds or edits
    them by hand. Reach one campaign's events with `?campaign=<pk>`."""

    list_display = ["created_at", "event_type", "campaign", "campaign_recipient", "is_machine", "url", "ip_address"]
    list_filter = [ByCampaignFilter, "event_type", "is_machine"]
    # Exact address match: a substring search would scan every event.
    search_fields = ["=campaign_recipient__email_address", "=provider_event_id"]
    raw_id_fields = ["campaign_recipient", "campaign", "link"]
    list_select_related = ["campaign", "campaign_recipient"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    ordering = ["-pk"]  # newest first through the primary key index

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.opts.fields]

    def has_add_permission(self, request):
        return False
