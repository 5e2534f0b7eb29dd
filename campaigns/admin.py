"""The marketers' admin: campaigns with their numbers and controls, leads, templates,
recipients, links and the suppression list.

Every state change goes through `campaigns.services` (the same guards as the API): a 409
or 400 from a service becomes an admin error message, never a crash. Pages stay fast on
large tables: metrics for a whole changelist page come from one grouped query, foreign
keys use raw-id widgets, and the big lists skip the full-table COUNT.
"""

import logging
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncHour
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from rest_framework.exceptions import APIException, ValidationError

from . import rendering, services
from .models import Campaign, CampaignLink, CampaignRecipient, EmailTemplate, Lead, Suppression
from .selectors import campaign_metrics

logger = logging.getLogger(__name__)

Status = Campaign.Status
RecipientStatus = CampaignRecipient.Status


def error_text(exc: Exception) -> str:
    """A service error as one sentence: `detail` of an APIException (flattening DRF's
    field-error dicts and lists), else the exception's text."""
    detail = getattr(exc, "detail", None)
    if detail is None:
        return str(exc) or exc.__class__.__name__
    if isinstance(detail, dict):
        return "; ".join(
            f"{field}: {' '.join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))}"
            for field, msgs in detail.items()
        )
    if isinstance(detail, list):
        return " ".join(str(m) for m in detail)
    return str(detail)


MAX_PK = 2**63 - 1


def as_pk(value) -> int | None:
    """`value` as a primary key (a plain decimal 1..2^63-1), else None: odd ids in URLs
    are "not found", never a database error."""
    value = str(value)
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_PK:
        return int(value)
    return None


def by_pk(queryset, value):
    """The row of `queryset` (a manager or queryset) whose primary key `value` names, else None."""
    pk = as_pk(value)
    return queryset.filter(pk=pk).first() if pk else None


def _percent(value: float) -> str:
    return f"{value:.1f}%"


class ByCampaignFilter(admin.SimpleListFilter):
    """Filter rows by one campaign (`?campaign=<pk>`), reached from the campaign's page.

    Lists only the selected campaign, not every campaign: with thousands of campaigns a
    full choice list would be a long query and a useless page.
    """

    title = "campaign"
    parameter_name = "campaign"

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name)
        if value is None:
            return []  # no choice list: the filter shows (and applies) only when used
        campaign = by_pk(Campaign.all_objects, value)
        return [(value, str(campaign) if campaign else f"unknown campaign {value!r}")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        pk = as_pk(value)
        return queryset.filter(campaign_id=pk) if pk else queryset.none()


class EstimatedCountPaginator(Paginator):
    """Skips `COUNT(*)` over a whole big PostgreSQL table: an unfiltered list shows the
    planner's row estimate (pg_class.reltuples, kept fresh by autovacuum) once it is above
    ESTIMATE_ABOVE rows. Filtered lists and smaller tables are counted exactly."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self):
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where and connections[qs.db].vendor == "postgresql":
            with connections[qs.db].cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [qs.model._meta.db_table]
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


def recipients_url(campaign_pk: int, status: str | None = None) -> str:
    params = {"campaign": campaign_pk}
    if status:
        params["status__exact"] = status
    return reverse("admin:campaigns_campaignrecipient_changelist") + "?" + urlencode(params)


# --- Campaigns -----------------------------------------------------------------------


class CampaignChangeList(ChangeList):
    """Attaches `metrics` (CampaignMetrics) to each campaign of the page: one grouped
    query for the page, whatever its size, instead of one per row."""

    def get_results(self, request):
        super().get_results(request)
        page = list(self.result_list)
        metrics = campaign_metrics(campaign_ids=[c.pk for c in page])
        for campaign in page:
            campaign.metrics = metrics[campaign.pk]


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = "__all__"

    def clean(self):
        """Refuse an edit the campaign's current status forbids (read from the database:
        the sender may have moved it since the page was opened)."""
        cleaned = super().clean()
        when = cleaned.get("scheduled_at")
        if "scheduled_at" in self.changed_data and when is not None and when <= timezone.now():
            self.add_error("scheduled_at", "Must be in the future.")
        if self.instance.pk:
            status = Campaign.all_objects.filter(pk=self.instance.pk).values_list("status", flat=True).first()
            changed = set(self.changed_data)
            if status not in Campaign.EDITABLE and changed:
                raise forms.ValidationError(f"A {status} campaign cannot be edited.")
            if status not in Campaign.CONTENT_EDITABLE and changed & services.CONTENT_FIELDS:
                raise forms.ValidationError(
                    f"A {status} campaign's content cannot change: "
                    + ", ".join(sorted(changed & services.CONTENT_FIELDS))
                    + "."
                )
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = [
        "name",
        "status_badge",
        "template",
        "recipients",
        "sent",
        "open_rate",
        "click_rate",
        "when",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "description", "=campaign_id"]
    list_select_related = ["template"]
    autocomplete_fields = ["template"]  # searched by name (EmailTemplateAdmin.search_fields)
    readonly_fields = [
        "campaign_id",
        "status",
        "total_recipients",
        "started_at",
        "completed_at",
        "paused_at",
        "failure_reason",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "template", "campaign_id", "status", "failure_reason"]}),
        ("Message", {"fields": ["subject", "from_name", "from_email", "reply_to", "track_opens", "track_clicks"]}),
        (
            "Sending",
            {
                "fields": [
                    "scheduled_at",
                    "send_rate_per_hour",
                    "total_recipients",
                    "started_at",
                    "paused_at",
                    "completed_at",
                ]
            },
        ),
        ("History", {"classes": ["collapse"], "fields": ["created_by", "created_at", "updated_at"]}),
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["launch_selected", "pause_selected", "resume_selected", "duplicate_selected"]

    # -- list columns (metrics attached by CampaignChangeList) --

    def get_changelist(self, request, **kwargs):
        return CampaignChangeList

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="ft-status ft-status-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="recipients", ordering="total_recipients")
    def recipients(self, obj):
        return obj.total_recipients

    @admin.display(description="started / scheduled", ordering="started_at")
    def when(self, obj):
        moment = obj.started_at or obj.scheduled_at
        return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"

    @admin.display(description="sent")
    def sent(self, obj):
        return obj.metrics["emails_sent"]

    @admin.display(description="open rate")
    def open_rate(self, obj):
        return _percent(obj.metrics["open_rate"])

    @admin.display(description="click rate")
    def click_rate(self, obj):
        return _percent(obj.metrics["click_rate"])

    # -- editing --

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is None:
            return fields
        if obj.status not in Campaign.EDITABLE:
            editable = services.UPDATABLE_FIELDS
        elif obj.status not in Campaign.CONTENT_EDITABLE:
            editable = services.CONTENT_FIELDS
        else:
            editable = set()
        return fields + sorted(editable)

    def save_model(self, request, obj, form, change):
        """New campaigns through `campaign_create`; edits write only the changed fields
        through `campaign_update` (the status guard), never a full-row save that could
        overwrite what the sender changed meanwhile."""
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in services.UPDATABLE_FIELDS}
        if not change:
            data = {f: form.cleaned_data[f] for f in services.UPDATABLE_FIELDS if f in form.cleaned_data}
            created = services.campaign_create(user=request.user, **data)
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        if not data:
            return
        try:
            services.campaign_update(campaign=obj, **data)
        except (APIException, Http404) as exc:
            self.message_user(request, f"Not saved: {error_text(exc)}", messages.ERROR)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status == Status.RUNNING:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        """Deleting a campaign is a soft delete (its recipients and events stay as
        history), so the confirmation lists the campaigns only, without walking their
        possibly millions of related rows."""
        objs = list(objs)
        perms_needed = set() if self.has_delete_permission(request) else {self.opts.verbose_name}
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, perms_needed, []

    def delete_model(self, request, obj):
        try:
            services.campaign_delete(campaign=obj)
        except (APIException, Http404) as exc:
            self.message_user(request, f"{obj.name}: {error_text(exc)}", messages.ERROR)

    def delete_queryset(self, request, queryset):
        for campaign in queryset:
            self.delete_model(request, campaign)

    # -- actions (list) and buttons (change page) --

    def _apply(self, request, campaigns, verb, call) -> int:
        """Run `call(campaign)` for each campaign; report each refusal as an error message."""
        done = 0
        for campaign in campaigns:
            try:
                call(campaign)
                done += 1
            except (APIException, Http404) as exc:
                self.message_user(request, f"Could not {verb} “{campaign.name}”: {error_text(exc)}", messages.ERROR)
        return done

    def _apply_bulk(self, request, queryset, verb, call):
        done = self._apply(request, queryset.order_by("pk"), verb, call)
        if done:
            self.message_user(request, f"{verb.capitalize()}: {done} campaign(s).", messages.SUCCESS)

    @admin.action(description="Launch selected campaigns now", permissions=["change"])
    def launch_selected(self, request, queryset):
        self._apply_bulk(request, queryset, "launch", lambda c: services.campaign_launch(campaign=c, user=request.user))

    @admin.action(description="Pause selected campaigns (unschedule scheduled ones)", permissions=["change"])
    def pause_selected(self, request, queryset):
        self._apply_bulk(request, queryset, "pause", lambda c: services.campaign_pause(campaign=c))

    @admin.action(description="Resume selected paused campaigns", permissions=["change"])
    def resume_selected(self, request, queryset):
        self._apply_bulk(request, queryset, "resume", lambda c: services.campaign_resume(campaign=c))

    @admin.action(description="Duplicate selected campaigns as drafts (content and recipients)", permissions=["add"])
    def duplicate_selected(self, request, queryset):
        """Like Mailchimp's "replicate": a new draft with the same content and settings (no
        schedule) and the same leads as pending recipients, added through `recipients_add`
        so addresses suppressed since are reported and skipped."""
        from .audience import MAX_ITEMS, recipients_add

        for campaign in queryset.order_by("pk"):
            fields = {f: getattr(campaign, f) for f in services.UPDATABLE_FIELDS if f != "scheduled_at"}
            fields["name"] = f"{campaign.name} (copy)"[:255]
            copy = services.campaign_create(user=request.user, **fields)
            ids = list(campaign.recipients.exclude(lead=None).order_by("lead_id").values_list("lead_id", flat=True))
            added = 0
            for start in range(0, len(ids), MAX_ITEMS):
                added += recipients_add(campaign=copy, lead_ids=ids[start : start + MAX_ITEMS])["successful"]
            self.message_user(
                request, f"“{copy.name}” created as a draft with {added} of {len(ids)} recipient(s).", messages.SUCCESS
            )

    def get_urls(self):
        def route(suffix, view):
            return path(
                f"<path:object_id>/{suffix}/",
                self.admin_site.admin_view(view),
                name=f"campaigns_campaign_{suffix.replace('-', '_')}",
            )

        return [
            route("launch", self.launch_view),
            route("schedule", self.schedule_view),
            route("pause", self.pause_view),
            route("resume", self.resume_view),
            route("send-test", self.send_test_view),
            *super().get_urls(),
        ]

    def _control(self, request, object_id, verb, call, success):
        """POST-only button handler: permission check, one service call, a message, back
        to the change page."""
        campaign = by_pk(Campaign.objects, object_id)
        if campaign is None:
            raise Http404("No campaign matches the given id.")
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
        if request.method != "POST":
            return back
        if self._apply(request, [campaign], verb, call):
            campaign.refresh_from_db()
            self.message_user(request, success(campaign), messages.SUCCESS)
        return back

    def launch_view(self, request, object_id):
        return self._control(
            request,
            object_id,
            "launch",
            lambda c: services.campaign_launch(campaign=c, user=request.user),
            lambda c: f"“{c.name}” launched: sending to {c.total_recipients} recipient(s).",
        )

    def schedule_view(self, request, object_id):
        return self._control(
            request,
            object_id,
            "schedule",
            lambda c: services.campaign_launch(campaign=c, user=request.user, send_immediately=False),
            lambda c: f"“{c.name}” scheduled for {c.scheduled_at:%Y-%m-%d %H:%M} UTC.",
        )

    def pause_view(self, request, object_id):
        return self._control(
            request,
            object_id,
            "pause",
            lambda c: services.campaign_pause(campaign=c),
            lambda c: f"“{c.name}” is now {c.status}.",
        )

    def resume_view(self, request, object_id):
        return self._control(
            request,
            object_id,
            "resume",
            lambda c: services.campaign_resume(campaign=c),
            lambda c: f"“{c.name}” resumed: sending the rest.",
        )

    def send_test_view(self, request, object_id):
        email = request.POST.get("test_email", "").strip()
        lead_field = request.POST.get("lead", "").strip()

        def send(campaign):
            try:
                forms.EmailField().clean(email)
            except forms.ValidationError:
                raise ValidationError({"test_email": [f"Enter a valid email address (got “{email}”)."]}) from None
            lead = None
            if lead_field:
                lead = by_pk(Lead.objects, lead_field)
                if lead is None:
                    raise ValidationError({"lead": [f"No lead has the id “{lead_field}”."]})
            services.campaign_send_test(campaign=campaign, test_email=email, lead=lead)

        return self._control(
            request,
            object_id,
            "send a test of",
            send,
            lambda c: f"Test message of “{c.name}” queued for {email}.",
        )

    # -- the stats panel --

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        campaign = by_pk(Campaign.objects, object_id)
        if campaign is not None:
            extra_context.update(self.stats_context(request, campaign))
        return super().change_view(request, object_id, form_url, extra_context)

    def stats_context(self, request, campaign) -> dict:
        """Counters, rates and an hourly chart for the change page.

        Numbers come from `tracking.selectors` (stats and analytics, the same as the API's
        endpoints 14 and 15). The import is deferred: the admin is the one place that
        shows both apps' data, and campaigns must not depend on tracking at import time.
        """
        by_status = dict(
            CampaignRecipient.objects.filter(campaign=campaign).order_by().values_list("status").annotate(n=Count("id"))
        )
        stats, analytics = None, None
        try:
            from tracking.selectors import campaign_analytics

            analytics = campaign_analytics(campaign=campaign)
            stats = analytics["stats"]
        except Exception:  # the page must open even if analytics break; the log says why
            logger.exception("campaign analytics failed for campaign %s", campaign.pk)
        metrics = stats["metrics"] if stats else campaign_metrics(campaign_ids=[campaign.pk])[campaign.pk]
        if analytics:
            series = {k: analytics[f"hourly_{k}"] for k in ("sends", "opens", "clicks")}
        else:
            series = self._hourly_fallback(campaign)
        can_change = self.has_change_permission(request, campaign)
        return {
            "ft_stats": stats,
            "ft_metrics": metrics,
            "ft_by_status": [
                (label, by_status[status], recipients_url(campaign.pk, status))
                for status, label in RecipientStatus.choices
                if by_status.get(status)
            ],
            "ft_recipients_url": recipients_url(campaign.pk),
            "ft_total": sum(by_status.values()),
            "ft_chart": hourly_chart_svg(series),
            "ft_top_links": (analytics or {}).get("top_links", [])[:5],
            "ft_can_launch": can_change and campaign.status in (Status.DRAFT, Status.SCHEDULED),
            "ft_can_schedule": can_change
            and campaign.status == Status.DRAFT
            and campaign.scheduled_at is not None
            and campaign.scheduled_at > timezone.now(),
            "ft_can_pause": can_change and campaign.status in (Status.RUNNING, Status.SCHEDULED),
            "ft_can_resume": can_change and campaign.status == Status.PAUSED,
            "ft_can_test": can_change,
            "ft_test_email": request.user.email,
        }

    @staticmethod
    def _hourly_fallback(campaign) -> dict:
        """Hourly sends and first opens/clicks from recipient timestamps alone."""
        rows = CampaignRecipient.objects.filter(campaign=campaign)

        def hourly(field):
            return list(
                rows.filter(**{f"{field}__isnull": False})
                .annotate(hour=TruncHour(field))
                .order_by()
                .values("hour")
                .annotate(count=Count("id"))
                .order_by("hour")
            )

        return {"sends": hourly("sent_at"), "opens": hourly("opened_at"), "clicks": hourly("clicked_at")}


CHART_COLOURS = {"sends": "#417690", "opens": "#70bf2b", "clicks": "#e8a33d"}
CHART_MAX_HOURS = 48
CHART_MIN_HOURS = 12  # a campaign sent within one hour still gets a readable axis


def _as_hour(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(minute=0, second=0, microsecond=0)


def hourly_chart_svg(series: dict) -> str:
    """An inline SVG bar chart of hourly counts: {"sends"|"opens"|"clicks": [{hour, count}]}.

    Hours without events are drawn as gaps; only the last CHART_MAX_HOURS hours are shown.
    Returns "" when there is nothing to draw.
    """
    counts = {name: {_as_hour(r["hour"]): r["count"] for r in rows} for name, rows in series.items()}
    hours = sorted({h for per_hour in counts.values() for h in per_hour})
    if not hours:
        return ""
    last = hours[-1]
    first = min(max(hours[0], last - timedelta(hours=CHART_MAX_HOURS - 1)), last - timedelta(hours=CHART_MIN_HOURS - 1))
    slots = [first + timedelta(hours=i) for i in range(int((last - first).total_seconds() // 3600) + 1)]
    peak = max(max(per_hour.values(), default=0) for per_hour in counts.values()) or 1
    width, height, left, bottom = 720, 180, 40, 24
    plot_w, plot_h = width - left - 8, height - bottom - 8
    slot_w = plot_w / len(slots)
    bar_w = max(slot_w / (len(counts) + 1), 1)
    bars = []
    for i, hour in enumerate(slots):
        for j, name in enumerate(counts):
            n = counts[name].get(hour, 0)
            if not n:
                continue
            h = plot_h * n / peak
            bars.append(
                (
                    round(left + i * slot_w + j * bar_w, 1),
                    round(8 + plot_h - h, 1),
                    round(bar_w, 1),
                    round(h, 1),
                    CHART_COLOURS.get(name, "#888"),
                    f"{hour:%Y-%m-%d %H}:00 UTC — {n} {name}",
                )
            )
    bars_svg = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>', bars
    )
    legend = format_html_join(
        "",
        '<tspan fill="{}" dx="12">■ {}</tspan>',
        ((CHART_COLOURS.get(name, "#888"), name) for name in counts),
    )
    return format_html(
        '<svg class="ft-chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="hourly sends, opens and clicks"'
        ' xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif">'
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/>'
        '<text x="{lt}" y="14" text-anchor="end">{peak}</text><text x="{lt}" y="{b}" text-anchor="end">0</text>'
        '<text x="{l}" y="{ty}">{start}</text>'
        '<text x="{r}" y="{ty}" text-anchor="end">{end} UTC</text>'
        '<text x="{mid}" y="{ty}" text-anchor="middle">{legend}</text>{bars}</svg>',
        w=width,
        h=height,
        l=left,
        r=width - 8,
        b=8 + plot_h,
        lt=left - 4,
        ty=height - 6,
        mid=width // 2,
        peak=peak,
        start=f"{slots[0]:%b %d %H}:00",
        end=f"{slots[-1]:%b %d %H}:00",
        legend=legend,
        bars=bars_svg,
    )


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

    @admin.action(description="Add selected leads to a campaign…", permissions=["view"])
    def add_to_campaign(self, request, queryset):
        """Step 1 shows a page to pick the campaign (those that accept recipients); step 2
        (`apply`) adds the leads through `audience.recipients_add` — the API's endpoint 7
        rules: duplicates, suppressed and unusable addresses are reported, not added."""
        from .audience import MAX_ITEMS, recipients_add

        choices = Campaign.objects.filter(status__in=Campaign.RECIPIENTS_EDITABLE).order_by("-created_at", "-pk")[:200]
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
            except (APIException, Http404) as exc:
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


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = "__all__"

    def clean(self):
        """The same compile check as the API: a template that does not compile is refused
        with the line and message on its field."""
        cleaned = super().clean()
        if all(k in cleaned for k in ("subject", "body_html")):
            errors = rendering.validate_template_source(
                subject=cleaned["subject"], body_html=cleaned["body_html"], body_text=cleaned.get("body_text", "")
            )
            for field, msgs in errors.items():
                self.add_error(field if field in self.fields else None, msgs)
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ["name", "category", "subject", "updated_at", "preview_link"]
    list_filter = ["category"]
    search_fields = ["name", "subject", "description"]
    readonly_fields = ["preview_link"]

    @admin.display(description="preview")
    def preview_link(self, obj):
        if not obj.pk:
            return "-"
        return format_html(
            '<a href="{}" target="_blank">Preview</a>', reverse("admin:campaigns_emailtemplate_preview", args=[obj.pk])
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_emailtemplate_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        """The template rendered as a recipient would get it (minus tracking), for the lead
        `?lead=<id>` or sample data. The HTML is shown in a sandboxed iframe: no scripts."""
        template = by_pk(EmailTemplate.objects, object_id)
        if template is None:
            raise Http404
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        lead = by_pk(Lead.objects, request.GET.get("lead", ""))
        rendered, error = None, ""
        try:
            rendered = rendering.render_preview(template=template, lead=lead)
        except APIException as exc:
            error = error_text(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": f"Preview: {template.name}",
            "lead": lead,
            "rendered": rendered,
            "error": error,
        }
        return TemplateResponse(request, "admin/campaigns/emailtemplate/preview.html", context)


class HistoryAdmin(admin.ModelAdmin):
    """Rows that record what happened (recipients, links, events): read-only, newest
    first through the primary key, no full COUNT(*) on big tables."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    ordering = ["-pk"]  # newest first through the primary key index

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.opts.fields]

    def has_add_permission(self, request):
        return False


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


from . import admin_segments  # noqa: E402, F401  (the Segment admin, in its own module)
