"""The campaign admin: list with numbers, the edit form and the controls (actions and
buttons). Every rule — read-only fields, delete rights, which button applies — comes from
`campaigns.states`; every change goes through `campaigns.services`."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from .. import checklist, services, states
from ..audience import MAX_ITEMS, recipients_add
from ..exceptions import Invalid
from ..models import Campaign, CampaignStep, Lead
from ..selectors import campaign_metrics
from .add_recipients import add_recipients_view
from .dashboard import compare_redirect, dashboard_urls
from .forms import one_line_fields
from .shared import REFUSALS, by_pk, error_text, percent
from .stats import stats_context
from .steps import CampaignStepInline, save_steps

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        one_line_fields(self, "name", "subject", "from_name")  # the API's HeaderCharField rule
        if "scheduled_at" in self.fields:
            self.fields["scheduled_at"].help_text = (
                f"In your time zone ({timezone.get_current_timezone_name()}). Saving a draft with a date "
                "schedules it (it needs a template and recipients); clear the date to keep a draft, "
                "pause a scheduled campaign to unschedule it."
            )

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
            if not states.may_edit(status) and changed:
                raise forms.ValidationError(f"A {status} campaign cannot be edited.")
            if not states.may_edit_content(status) and changed & states.CONTENT_FIELDS:
                raise forms.ValidationError(
                    f"A {status} campaign's content cannot change: "
                    + ", ".join(sorted(changed & states.CONTENT_FIELDS))
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
        "pause_reason",
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
                    "pause_reason",
                    "completed_at",
                ]
            },
        ),
        (
            "Auto-pause (empty: the AUTO_PAUSE_* settings; 0: off)",
            {"fields": ["auto_pause_min_sample", "auto_pause_bounce_rate", "auto_pause_complaint_rate"]},
        ),
        ("History", {"classes": ["collapse"], "fields": ["created_by", "created_at", "updated_at"]}),
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["launch_selected", "pause_selected", "resume_selected", "duplicate_selected", "compare_selected"]
    inlines = [CampaignStepInline]

    def get_inline_instances(self, request, obj=None):
        # Steps are added to a saved campaign (its change page), as recipients are.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_formset(self, request, form, formset, change):
        if formset.model is CampaignStep:
            save_steps(formset)
        else:
            super().save_formset(request, form, formset, change)

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
        return percent(obj.metrics["open_rate"])

    @admin.display(description="click rate")
    def click_rate(self, obj):
        return percent(obj.metrics["click_rate"])

    # -- editing --

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is None:
            return fields
        return fields + sorted(states.UPDATABLE_FIELDS - states.editable_fields(obj.status))

    def save_model(self, request, obj, form, change):
        """New campaigns through `campaign_create`; edits write only the changed fields
        through `campaign_update` (the status guard), never a full-row save that could
        overwrite what the sender changed meanwhile."""
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in states.UPDATABLE_FIELDS}
        if not change:
            data = {f: form.cleaned_data[f] for f in states.UPDATABLE_FIELDS if f in form.cleaned_data}
            created = services.campaign_create(user=request.user, **data)
            obj.pk = created.pk
            obj.refresh_from_db()
        elif data:
            try:
                services.campaign_update(campaign=obj, **data)
            except REFUSALS as exc:
                self.message_user(request, f"Not saved: {error_text(exc)}", messages.ERROR)
                return
        self._schedule_if_dated(request, obj)

    def _schedule_if_dated(self, request, campaign):
        """Saving a draft that carries a future date schedules it — the one rule, so a date
        typed and saved is never silently left in draft. A refusal (no recipients yet, a
        template that does not render) is said; the campaign stays a draft with its date."""
        campaign.refresh_from_db()
        if not states.can("schedule", campaign.status) or campaign.scheduled_at is None:
            return
        if campaign.scheduled_at <= timezone.now():
            return
        try:
            services.campaign_launch(campaign=campaign, user=request.user, send_immediately=False)
        except REFUSALS as exc:
            self.message_user(
                request,
                f"Saved as a draft, not scheduled yet: {error_text(exc)} Save it again, or press Schedule, once it is ready.",
                messages.WARNING,
            )
            return
        when = timezone.localtime(campaign.scheduled_at)
        self.message_user(
            request, f"“{campaign.name}” is scheduled for {when:%Y-%m-%d %H:%M} ({when.tzname()}).", messages.SUCCESS
        )

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not states.may_delete(obj.status):
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
        except REFUSALS as exc:
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
            except REFUSALS as exc:
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
        for campaign in queryset.order_by("pk"):
            fields = {f: getattr(campaign, f) for f in states.UPDATABLE_FIELDS if f != "scheduled_at"}
            fields["name"] = f"{campaign.name} (copy)"[:255]
            copy = services.campaign_create(user=request.user, **fields)
            ids = list(campaign.recipients.exclude(lead=None).order_by("lead_id").values_list("lead_id", flat=True))
            added = 0
            for start in range(0, len(ids), MAX_ITEMS):
                added += recipients_add(campaign=copy, lead_ids=ids[start : start + MAX_ITEMS])["successful"]
            self.message_user(
                request, f"“{copy.name}” created as a draft with {added} of {len(ids)} recipient(s).", messages.SUCCESS
            )

    @admin.action(description="Compare selected campaigns (rates side by side)", permissions=["view"])
    def compare_selected(self, request, queryset):
        return compare_redirect(queryset)

    def get_urls(self):
        def route(suffix, view):
            return path(
                f"<path:object_id>/{suffix}/",
                self.admin_site.admin_view(view),
                name=f"campaigns_campaign_{suffix.replace('-', '_')}",
            )

        return [
            *dashboard_urls(self),
            route("launch", self.launch_view),
            route("schedule", self.schedule_view),
            route("pause", self.pause_view),
            route("resume", self.resume_view),
            route("send-test", self.send_test_view),
            route("add-recipients", lambda request, object_id: add_recipients_view(self, request, object_id)),
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
            lambda c: f"“{c.name}” scheduled for {timezone.localtime(c.scheduled_at):%Y-%m-%d %H:%M (%Z)}.",
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
                raise Invalid({"test_email": [f"Enter a valid email address (got “{email}”)."]}) from None
            lead = None
            if lead_field:
                lead = by_pk(Lead.objects, lead_field)
                if lead is None:
                    raise Invalid({"lead": [f"No lead has the id “{lead_field}”."]})
            services.campaign_send_test(campaign=campaign, test_email=email, lead=lead, user=request.user)

        return self._control(
            request,
            object_id,
            "send a test of",
            send,
            lambda c: f"Test message of “{c.name}” queued for {email}.",
        )

    # -- the stats panel --

    # -- the stats panel (campaigns/admin/stats.py; tracking adds its figures there) --

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        campaign = by_pk(Campaign.objects, object_id)
        if campaign is not None:
            can_change = self.has_change_permission(request, campaign)
            extra_context.update(stats_context(request, campaign, can_change=can_change))
            if campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
                # Before launch: what launch would refuse (errors) and what to look at (warnings).
                extra_context["ft_checklist"] = checklist.checklist(campaign=campaign)
            if not states.may_edit(campaign.status):
                # Nothing on the page can change (states.editable_fields): no Save buttons.
                extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context)
