"""Leads (with the *Add selected leads to a campaign…* action) and the suppression list."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from .. import states
from ..audience import MAX_ITEMS, recipients_add
from ..models import Campaign, Lead, Suppression
from .imports import lead_import_urls
from .shared import REFUSALS, EstimatedCountPaginator, by_pk, error_text

# --- Leads, templates, recipients, links, suppressions ------------------------------


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "company", "city", "source", "status", "created_at"]
    list_filter = ["status", "source", "city", "created_at"]
    search_fields = ["email", "first_name", "last_name", "company"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    actions = ["add_to_campaign"]
    change_list_template = "admin/campaigns/lead/change_list.html"  # + Import CSV / Export CSV

    def get_urls(self):
        return [*lead_import_urls(self), *super().get_urls()]

    @admin.action(description="Add selected leads to a campaign…", permissions=["view"])
    def add_to_campaign(self, request, queryset):
        """Step 1 shows a page to pick the campaign (those that accept recipients); step 2
        (`apply`) adds the leads through `audience.recipients_add` — the API's endpoint 7
        rules: duplicates, suppressed and unusable addresses are reported, not added."""
        choices = Campaign.objects.filter(status__in=states.RECIPIENTS_ADDABLE).order_by("-created_at", "-pk")[:200]
        if "apply" in request.POST:
            campaign = by_pk(Campaign.objects, request.POST.get("campaign", ""))
            if campaign is None:
                self.message_user(request, "Choose a campaign.", messages.ERROR)
                return None
            if not request.user.has_perm("campaigns.change_campaign"):
                raise PermissionDenied
            ids = list(queryset.order_by("pk").values_list("pk", flat=True))
            totals = {"successful": 0, "duplicates": 0, "suppressed": 0, "invalid": 0}
            try:
                for start in range(0, len(ids), MAX_ITEMS):
                    result = recipients_add(campaign=campaign, lead_ids=ids[start : start + MAX_ITEMS])
                    for key in totals:
                        totals[key] += result.get(key, 0)
            except REFUSALS as exc:
                self.message_user(request, f"Could not add to “{campaign.name}”: {error_text(exc)}", messages.ERROR)
                return None
            skipped = ", ".join(f"{n} {key}" for key, n in totals.items() if key != "successful" and n)
            self.message_user(
                request,
                f"Added {totals['successful']} of {len(ids)} lead(s) to “{campaign.name}”."
                + (f" Not added: {skipped}." if skipped else ""),
                messages.SUCCESS if totals["successful"] else messages.WARNING,
            )
            return None
        return TemplateResponse(
            request,
            "admin/campaigns/lead/add_to_campaign.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Add leads to a campaign",
                "queryset": queryset,
                "count": queryset.count(),
                "campaigns": choices,
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action": "add_to_campaign",
            },
        )


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Addresses no campaign sends to. Adding one by hand is the `manual` reason;
    deleting one lets campaigns send to the address again."""

    list_display = ["email", "reason", "source", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["email", "source"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
