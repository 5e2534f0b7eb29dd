"""The campaign page's "Add recipients…": a saved segment, the leads matching the lead list's
filters (statuses, sources, tags, cities, created after), or pasted addresses — each added
through `audience.recipients_add`, the API's endpoint 7, so the rules, the checks and the
report are the API's; the forms only turn the page's input into that call's arguments.

Decisions where the issue is silent:
- Pasted addresses (`lead_input.addresses_parse`: one per line, or comma/semicolon separated;
  `Name <addr>` gives addr) are endpoint 7's `leads` with an email only: an address without a
  lead becomes a new lead (the contract upserts lead objects by email), a known lead keeps its
  fields. So this path needs `add_lead` and `change_lead` as well, as the API does. At most
  `MAX_ITEMS` addresses at a time (more → the form says so, nothing changes).
- The lead filters need at least one filter: an empty set would add every lead, which a
  marketer does with a segment without conditions, on purpose.
- The result is one message: how many were added, and how many were not — already
  recipients, repeated in the list, suppressed, invalid — with the first addresses of each
  kind named; for pasted addresses also how many new leads were made.
- Bad input (an unknown segment, a malformed date, a list too long, a campaign that no longer
  accepts recipients) is a form error or an error message, never a 500, and changes nothing.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Lower
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from fliptech.errors import describe_fields

from .. import states
from ..audience import ALREADY_RECIPIENT, DUPLICATE_IN_REQUEST, MAX_ITEMS, recipients_add
from ..lead_input import addresses_parse
from ..lead_sets import values_set
from ..models import Campaign, Lead, Segment
from ..serializers.recipients import LeadFiltersSerializer
from .shared import REFUSALS, by_pk, error_text

MAX_PASTE_CHARS = 1_000_000
NAMED = 10  # addresses named per kind in the result


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class SegmentSourceForm(forms.Form):
    segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name"), empty_label="Choose a segment")

    def arguments(self) -> dict:
        return {"segment": self.cleaned_data["segment"]}


class LeadFilterSourceForm(forms.Form):
    statuses = forms.MultipleChoiceField(
        choices=Lead.Status.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    sources = forms.CharField(required=False, max_length=10_000, help_text="Comma-separated, exact.")
    tags = forms.CharField(required=False, max_length=10_000, help_text="Comma-separated: leads with any of them.")
    cities = forms.CharField(required=False, max_length=10_000, help_text="Comma-separated, any case.")
    created_after = forms.DateTimeField(
        required=False, help_text="Leads created at or after this moment (YYYY-MM-DD or YYYY-MM-DD HH:MM, UTC)."
    )

    def clean(self):
        data = super().clean()
        filters = {key: _split(data.get(key) or "") for key in ("sources", "tags", "cities")}
        filters["statuses"] = data.get("statuses") or []
        filters = {key: value for key, value in filters.items() if value}
        if data.get("created_after"):
            filters["created_after"] = data["created_after"].isoformat()
        if self.errors:
            return data
        if not filters:
            raise forms.ValidationError(
                "Choose at least one filter (to add every lead, use a segment without conditions)."
            )
        # The API's own validation of `lead_filters` (lengths, statuses, dates): one rule.
        serializer = LeadFiltersSerializer(data=filters)
        if not serializer.is_valid():
            for field, errors in serializer.errors.items():
                self.add_error(field if field in self.fields else None, describe_fields({field: errors}))
            return data
        self.lead_filters = dict(serializer.validated_data)
        return data

    def arguments(self) -> dict:
        return {"lead_filters": self.lead_filters}


class PasteSourceForm(forms.Form):
    addresses = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60, "placeholder": "ann@example.com\nbob@example.com"}),
        max_length=MAX_PASTE_CHARS,
        help_text=f"One per line, or separated by commas; at most {MAX_ITEMS:,} at a time. "
        "Unknown addresses become new leads.",
    )

    def clean_addresses(self):
        items = addresses_parse(self.cleaned_data["addresses"])
        if not items:
            raise forms.ValidationError("Paste at least one address.")
        if len(items) > MAX_ITEMS:
            raise forms.ValidationError(f"At most {MAX_ITEMS:,} addresses at a time ({len(items):,} given).")
        return items

    def arguments(self) -> dict:
        return {"leads": [{"email": item} for item in self.cleaned_data["addresses"]]}


SOURCES = {
    "segment": (SegmentSourceForm, ("campaigns.view_segment",)),
    "filter": (LeadFilterSourceForm, ("campaigns.view_lead",)),
    "paste": (PasteSourceForm, ("campaigns.add_lead", "campaigns.change_lead")),
}


def _known(emails) -> int:
    lowered = sorted({e.strip().lower() for e in emails if len(e) <= 254})
    return Lead.objects.alias(email_lower=Lower("email")).filter(email_lower__in=values_set(lowered, "text")).count()


def result_message(result: dict, *, created: int | None = None):
    """The report of `recipients_add` as one sentence (HTML-safe), with the first items of
    each kind not added named."""
    named = {"already": [], "repeated": [], "suppressed": [], "invalid": []}
    for error in result["errors"]:
        message = error["message"]
        if message == ALREADY_RECIPIENT:
            kind = "already"
        elif message.startswith(DUPLICATE_IN_REQUEST.rstrip(".")):
            kind = "repeated"
        elif "suppressed" in message:
            kind = "suppressed"
        elif error["item"] in ("segment_id", "lead_filters"):
            kind = "already" if "already" in message else "invalid"
        else:
            kind = "invalid"
        if error["item"] not in ("segment_id", "lead_filters"):
            named[kind].append((str(error["item"]), message))
    repeated = sum(1 for e in result["errors"] if e["message"].startswith(DUPLICATE_IN_REQUEST.rstrip(".")))
    counts = {
        "already": result["duplicates"] - repeated,
        "repeated": repeated,
        "suppressed": result["suppressed"],
        "invalid": result["invalid"],
    }
    words = {
        "already": "already recipients",
        "repeated": "repeated in the list",
        "suppressed": "suppressed",
        "invalid": "invalid",
    }
    parts = [f"{counts[k]} {words[k]}" for k in words if counts[k]]
    head = f"Added {result['successful']} recipient(s)"
    head += f" ({created} new lead(s) created)." if created else "."
    if parts:
        head += " Not added: " + ", ".join(parts) + "."
    head += f" The campaign now has {result['total_recipients']} recipient(s)."
    details = [
        (words[k], ", ".join(item if k != "invalid" else f"{item} ({msg.rstrip('.')})" for item, msg in items[:NAMED]))
        for k, items in named.items()
        if items
    ]
    if not details:
        return head
    return format_html(
        "{}<ul>{}</ul>", head, format_html_join("", "<li>{}: {}</li>", ((w.capitalize(), t) for w, t in details))
    )


def add_recipients_view(model_admin, request, object_id):
    """GET: the three forms. POST (`source` = segment | filter | paste): that form, then
    `recipients_add` and back to the campaign page with the result; a form error shows the
    page again with it."""
    campaign = by_pk(Campaign.objects, object_id)
    if campaign is None:
        raise Http404("No campaign matches the given id.")
    if not model_admin.has_change_permission(request, campaign):
        raise PermissionDenied
    forms_ = {key: form(prefix=key) for key, (form, _) in SOURCES.items()}
    chosen = request.POST.get("source") if request.method == "POST" else None
    if chosen in SOURCES:
        form_class, perms = SOURCES[chosen]
        if not request.user.has_perms(perms):
            raise PermissionDenied
        form = forms_[chosen] = form_class(request.POST, prefix=chosen)
        if form.is_valid():
            arguments = form.arguments()
            emails = [lead["email"] for lead in arguments.get("leads", [])]
            before = _known(emails) if emails else None
            try:
                result = recipients_add(campaign=campaign, **arguments)
            except REFUSALS as exc:
                model_admin.message_user(request, f"Nothing added: {error_text(exc)}", messages.ERROR)
            else:
                created = _known(emails) - before if emails else None
                failed = result["failed"]
                level = messages.SUCCESS if not failed else messages.WARNING if result["successful"] else messages.ERROR
                model_admin.message_user(request, result_message(result, created=created), level)
                return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": campaign,
        "title": f"Add recipients to “{campaign.name}”",
        "forms": forms_,
        "chosen": chosen,
        "accepts": states.may_add_recipients(campaign.status),
        "can": {key: request.user.has_perms(perms) for key, (_, perms) in SOURCES.items()},
    }
    return TemplateResponse(request, "admin/campaigns/campaign/add_recipients.html", context)
