from django.contrib import admin

from .models import Campaign, CampaignLink, CampaignRecipient, EmailTemplate, Lead, Suppression


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "company", "city", "source", "status", "created_at"]
    list_filter = ["status", "source", "city"]
    search_fields = ["email", "first_name", "last_name", "company"]
    date_hierarchy = "created_at"


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "subject", "updated_at"]
    list_filter = ["category"]
    search_fields = ["name", "subject", "description"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign_id", "status", "template", "total_recipients", "scheduled_at", "started_at", "completed_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "description", "campaign_id"]
    readonly_fields = ["campaign_id", "status", "total_recipients", "started_at", "completed_at", "paused_at", "failure_reason", "created_by"]
    list_select_related = ["template"]
    date_hierarchy = "created_at"


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(admin.ModelAdmin):
    list_display = ["email_address", "campaign", "status", "sent_at", "opened_at", "clicked_at", "open_count", "click_count"]
    list_filter = ["status"]
    search_fields = ["email_address", "first_name", "last_name", "message_id"]
    raw_id_fields = ["campaign", "lead"]
    list_select_related = ["campaign"]
    readonly_fields = ["token", "message_id"]


@admin.register(CampaignLink)
class CampaignLinkAdmin(admin.ModelAdmin):
    list_display = ["url", "campaign", "created_at"]
    search_fields = ["url"]
    raw_id_fields = ["campaign"]
    list_select_related = ["campaign"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email", "reason", "source", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email", "source"]
