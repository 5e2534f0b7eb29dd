"""Leads (tags as a line, attributes as lines or JSON, whether the address is suppressed,
the campaigns it received and its events; the *Add selected leads to a campaign…* and
suppress/unsuppress actions) and the suppression list."""

import logging
from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .. import states
from ..audience import MAX_ITEMS, recipients_add
from ..lead_sets import tags_any
from ..models import Campaign, CampaignRecipient, Lead, Suppression
from ..suppressions import suppress_emails, unsuppress_emails
from .forms import LeadForm, SuppressionForm
from .imports import lead_import_urls
from .shared import REFUSALS, EstimatedCountPaginator, by_pk, error_text

logger = logging.getLogger(__name__)

# Callables `panel(lead) -> dict` adding to the lead page; tracking adds "events" (a list
# of {"created_at", "campaign", "event_type", "is_machine", "detail"}), so campaigns never
# imports tracking. Later panels override earlier ones' keys.
LEAD_PANELS = []
RECEIVED_SHOWN = 50


def register_lead_panel(panel):
    """Add `panel` to the lead page (usable as a decorator)."""
    if panel not in LEAD_PANELS:
        LEAD_PANELS.append(panel)
    return panel


def _lead_panels(lead) -> dict:
    out = {}
    for panel in LEAD_PANELS:
        try:
            out.update(panel(lead) or {})
        except Exception:  # the page must open even if a panel breaks; the log says why
            logger.exception("lead panel %s failed for lead %s", getattr(panel, "__name__", panel), lead.pk)
    return out


class TagFilter(admin.SimpleListFilter):
    """`?tag=<tag>`: leads carrying that tag. The choices are the most common tags among the
    newest TAG_SAMPLE leads (one indexed query, whatever the table's size), plus the chosen one."""

    title = "tag"
    parameter_name = "tag"
    TAG_SAMPLE = 2000
    CHOICES = 30

    def lookups(self, request, model_admin):
        counts = Counter()
        for tags in Lead.objects.order_by("-created_at", "-id").values_list("tags", flat=True)[: self.TAG_SAMPLE]:
            counts.update(t for t in tags or [] if isinstance(t, str))
        choices = [tag for tag, _ in counts.most_common(self.CHOICES)]
        chosen = self.value()
        if chosen and chosen not in choices:
            choices.insert(0, chosen)
        return [(tag, tag) for tag in sorted(choices, key=str.lower)]

    def queryset(self, request, queryset):
        return queryset.filter(tags_any([self.value()])) if self.value() else queryset


class LeadChangeList(ChangeList):
    """Attaches `suppressed` (the reason, or None) to each lead of the page: one query for
    the page, instead of one per row."""

    def get_results(self, request):
        super().get_results(request)
        page = list(self.result_list)
        reasons = dict(
            Suppression.objects.filter(email__in=[lead.email for lead in page]).values_list("email", "reason")
        )
        for lead in page:
            lead.suppressed = reasons.get(lead.email)


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadForm
    list_display = [
        "email",
        "first_name",
        "last_name",
        "company",
        "city",
        "source",
        "status",
        "email_status",
        "tag_list",
        "suppressed_flag",
        "created_at",
    ]
    list_filter = ["status", "email_status", "source", TagFilter, "city", "created_at"]
    readonly_fields = ["suppression", "email_status", "created_at", "updated_at"]
    search_fields = ["email", "first_name", "last_name", "company"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    actions = ["add_to_campaign", "suppress_selected", "unsuppress_selected"]
    change_list_template = "admin/campaigns/lead/change_list.html"  # + Import CSV / Export CSV
    change_form_template = "admin/campaigns/lead/change_form.html"  # + suppression, received, events

    def get_changelist(self, request, **kwargs):
        return LeadChangeList

    @admin.display(description="tags")
    def tag_list(self, obj):
        return ", ".join(str(t) for t in obj.tags or [])

    @admin.display(description="suppressed")
    def suppressed_flag(self, obj):
        reason = getattr(obj, "suppressed", None)
        return format_html('<span class="ft-status ft-status-failed">{}</span>', reason) if reason else "-"

    @admin.display(description="suppressed")
    def suppression(self, obj):
        row = Suppression.objects.filter(email=obj.email).first() if obj.pk else None
        if row is None:
            return "No: campaigns send to this address."
        return f"Yes — {row.get_reason_display()} since {row.created_at:%Y-%m-%d %H:%M} UTC" + (
            f" ({row.source})" if row.source else ""
        )

    def get_urls(self):
        def route(suffix, view):
            return path(
                f"<path:object_id>/{suffix}/", self.admin_site.admin_view(view), name=f"campaigns_lead_{suffix}"
            )

        return [
            *lead_import_urls(self),
            route("suppress", self.suppress_view),
            route("unsuppress", self.unsuppress_view),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = by_pk(Lead.objects, object_id)
        extra_context = extra_context or {}
        if lead is not None:
            received = (
                CampaignRecipient.objects.filter(lead=lead).select_related("campaign").order_by("-pk")[:RECEIVED_SHOWN]
            )
            extra_context.update(
                {
                    "ft_received": list(received),
                    "ft_received_max": RECEIVED_SHOWN,
                    "ft_suppressed": Suppression.objects.filter(email=lead.email).first(),
                    "ft_can_suppress": request.user.has_perm("campaigns.add_suppression"),
                    "ft_can_unsuppress": request.user.has_perm("campaigns.delete_suppression"),
                    **{f"ft_{k}": v for k, v in _lead_panels(lead).items()},
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # -- suppress / unsuppress (list actions and the lead page's buttons) --

    def _suppress(self, request, emails):
        if not request.user.has_perm("campaigns.add_suppression"):
            raise PermissionDenied
        result = suppress_emails(emails=emails, source=f"admin:{request.user.get_username()}")
        self.message_user(
            request,
            f"Suppressed {result['added']} address(es)."
            + (f" {result['already']} already were." if result["already"] else ""),
        )

    def _unsuppress(self, request, emails):
        if not request.user.has_perm("campaigns.delete_suppression"):
            raise PermissionDenied
        result = unsuppress_emails(emails=emails)
        self.message_user(request, f"Unsuppressed {result['removed']} address(es).")
        if result["kept"]:
            self.message_user(
                request,
                f"{result['kept']} address(es) stay suppressed: they unsubscribed, bounced or complained "
                "(lift such a row from the suppression list if you must).",
                messages.WARNING,
            )

    @admin.action(description="Suppress selected addresses (no campaign sends to them)", permissions=["view"])
    def suppress_selected(self, request, queryset):
        self._suppress(request, queryset.order_by().values_list("email", flat=True).iterator(chunk_size=5_000))

    @admin.action(description="Unsuppress selected addresses (manual suppressions only)", permissions=["view"])
    def unsuppress_selected(self, request, queryset):
        self._unsuppress(request, queryset.order_by().values_list("email", flat=True).iterator(chunk_size=5_000))

    def _lead_button(self, request, object_id, handle):
        lead = by_pk(Lead.objects, object_id)
        if lead is None:
            raise Http404("No lead matches the given id.")
        if request.method == "POST":
            handle(request, [lead.email])
        return HttpResponseRedirect(reverse("admin:campaigns_lead_change", args=[lead.pk]))

    def suppress_view(self, request, object_id):
        return self._lead_button(request, object_id, self._suppress)

    def unsuppress_view(self, request, object_id):
        return self._lead_button(request, object_id, self._unsuppress)

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

    form = SuppressionForm

    list_display = ["email", "reason", "source", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["email", "source"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
