from django.contrib import admin

from .models import EmailTracking


@admin.register(EmailTracking)
class EmailTrackingAdmin(admin.ModelAdmin):
    list_display = ["event_type", "campaign", "campaign_recipient", "is_machine", "url", "ip_address", "created_at"]
    list_filter = ["event_type", "is_machine"]
    search_fields = ["campaign_recipient__email_address", "url", "user_agent"]
    raw_id_fields = ["campaign_recipient", "campaign", "link"]
    list_select_related = ["campaign", "campaign_recipient"]
