"""The Segment admin: a rules builder (rows of field / op / value, match all or any) with a
live member count and sample, and "add a segment to a campaign" (linked from the campaign
page and from each segment).

The builder is a small script (static/campaigns/segment_builder.js) that writes the rules
JSON into the form's `rules` field and asks `preview/` — a JSON view over the same
`rules_preview` as `POST /api/v1/segments/preview` — for the count as the rows change. The form
validates with the API's `rules_clean`; adding goes through `audience.recipients_add`, so the
report is the API's.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from fliptech.errors import Invalid
from fliptech.ids import parse_pk

from .. import states
from ..audience import recipients_add
from ..models import Campaign, Segment
from ..segments.rules import (
    ATTRIBUTE_OPS,
    CREATED_OPS,
    ENGAGEMENT_OPS,
    SCORE_OPS,
    TAG_OPS,
    TEXT_FIELDS,
    TEXT_OPS,
    rules_clean,
)
from ..segments.selectors import rules_preview
from .shared import REFUSALS, error_text

# What the builder offers: {field: ops}; `attributes.` takes a key typed beside it.
BUILDER_FIELDS = {
    **{field: TEXT_OPS for field in TEXT_FIELDS},
    "tags": TAG_OPS,
    "attributes.": ATTRIBUTE_OPS,
    "created_at": CREATED_OPS,
    "engagement": ENGAGEMENT_OPS,
    "engagement_score": SCORE_OPS,
}


class SegmentForm(forms.ModelForm):
    rules = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "ft-rules-json"}),
        help_text="Built by the rows above; editable as JSON too.",
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["rules"] = json.dumps(self.instance.rules)
        elif not self.is_bound:
            self.initial["rules"] = json.dumps({"match": "all", "conditions": []})

    def clean_name(self):
        name = self.cleaned_data["name"]
        if any(ch in name for ch in "\r\n"):
            raise forms.ValidationError("Line breaks are not allowed here.")
        return name

    def clean_rules(self):
        try:
            rules = json.loads(self.cleaned_data["rules"])
        except ValueError:
            raise forms.ValidationError("Enter the rules as JSON (the builder does it for you).") from None
        try:
            rules_clean(rules)
        except Invalid as exc:
            raise forms.ValidationError(exc.messages()) from None
        return rules


def _sample_row(lead) -> dict:
    return {
        "id": lead.pk,
        "email": lead.email,
        "name": f"{lead.first_name} {lead.last_name}".strip(),
        "city": lead.city,
        "tags": lead.tags,
    }


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "description", "updated_at", "add_link"]
    search_fields = ["name", "description"]
    change_form_template = "admin/campaigns/segment/change_form.html"

    @admin.display(description="")
    def add_link(self, obj):
        url = reverse("admin:campaigns_segment_add_to_campaign") + f"?segment={obj.pk}"
        return format_html('<a href="{}">Add to a campaign…</a>', url)

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="campaigns_segment_preview"),
            path(
                "add-to-campaign/",
                self.admin_site.admin_view(self.add_to_campaign_view),
                name="campaigns_segment_add_to_campaign",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, **kwargs):
        context["ft_builder"] = {
            "fields": BUILDER_FIELDS,
            "preview_url": reverse("admin:campaigns_segment_preview"),
            "campaigns": [
                {"id": c.pk, "label": f"{c.name} ({c.campaign_id})"}
                for c in Campaign.objects.order_by("-created_at", "-pk")[:200]
            ],
        }
        return super().render_change_form(request, context, *args, **kwargs)

    def preview_view(self, request):
        """POST `{"rules"}` → `{"lead_count", "suppressed_count", "sample"}`, or 400
        `{"errors": [...]}`; nothing is saved."""
        if request.method != "POST":
            return JsonResponse({"errors": ["POST the rules."]}, status=405)
        if not request.user.has_perms(["campaigns.view_segment", "campaigns.view_lead"]):
            raise PermissionDenied
        try:
            body = json.loads(request.body or b"{}")
            rules = body.get("rules") if isinstance(body, dict) else None
            rules_clean(rules)
        except ValueError:
            return JsonResponse({"errors": ["The body is not JSON."]}, status=400)
        except Invalid as exc:
            return JsonResponse({"errors": exc.messages()}, status=400)
        preview = rules_preview(rules)
        return JsonResponse({**preview, "sample": [_sample_row(lead) for lead in preview["sample"]]})

    def add_to_campaign_view(self, request):
        """Pick a segment and a campaign (either may come preselected: `?segment=`,
        `?campaign=`) and add every member, with the API's report."""

        if not request.user.has_perms(["campaigns.view_segment", "campaigns.change_campaign"]):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        segment_pk, campaign_pk = parse_pk(source.get("segment", "")), parse_pk(source.get("campaign", ""))
        if request.method == "POST":
            segment = Segment.objects.filter(pk=segment_pk).first() if segment_pk else None
            campaign = Campaign.objects.filter(pk=campaign_pk).first() if campaign_pk else None
            if segment is None or campaign is None:
                self.message_user(request, "Choose a segment and a campaign.", messages.ERROR)
            else:
                try:
                    result = recipients_add(campaign=campaign, segment=segment)
                except REFUSALS as exc:
                    self.message_user(request, f"Could not add to “{campaign.name}”: {error_text(exc)}", messages.ERROR)
                else:
                    level = messages.SUCCESS if result["successful"] else messages.WARNING
                    self.message_user(request, f"“{segment.name}” → “{campaign.name}”: {result['message']}", level)
                    return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add a segment to a campaign",
            "segments": Segment.objects.order_by("name")[:500],
            "campaigns": Campaign.objects.filter(status__in=states.RECIPIENTS_ADDABLE).order_by("-created_at", "-pk")[
                :200
            ],
            "segment_pk": segment_pk,
            "campaign_pk": campaign_pk,
        }
        return TemplateResponse(request, "admin/campaigns/segment/add_to_campaign.html", context)
