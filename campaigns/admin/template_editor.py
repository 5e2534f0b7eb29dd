"""The template editor's helpers: a live preview of the unsaved form (subject and bodies
posted by campaigns/static/campaigns/template_editor.js as the marketer types), the preview
lead chosen by email with suggestions, and the merge tags listed beside the editor.

The preview renders exactly like the saved template's preview (`rendering.render_preview`,
sample data or the chosen lead, no tracking) after the same compile check as saving; the
HTML is shown in a sandboxed iframe (no scripts). Nothing is written.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path

from fliptech.errors import DomainError, describe
from fliptech.text import has_line_break, unstorable

from .. import rendering
from ..models import EmailTemplate, Lead

SUGGESTIONS = 10
ATTRIBUTE_SAMPLE = 500
MAX_BODY = 1_000_000


def editor_urls(model_admin):
    """URL patterns for EmailTemplateAdmin.get_urls (before the admin's own)."""
    wrap = model_admin.admin_site.admin_view

    def route(suffix, view, name):
        return path(suffix, wrap(lambda request, **kw: view(model_admin, request, **kw)), name=name)

    return [
        route("preview-draft/", preview_draft, "campaigns_emailtemplate_preview_draft"),
        route("lead-search.json", lead_search, "campaigns_emailtemplate_lead_search"),
    ]


def editor_context() -> dict:
    """The change form's extra context: the merge tags, with the attribute keys found on the
    newest ATTRIBUTE_SAMPLE leads (one indexed query)."""
    keys = set()
    for attributes in Lead.objects.order_by("-created_at", "-id").values_list("attributes", flat=True)[
        :ATTRIBUTE_SAMPLE
    ]:
        if isinstance(attributes, dict):
            keys.update(attributes)
    return {"ft_merge_tags": rendering.merge_tags(keys)}


def _lead_by_email(text: str):
    email = text.strip().lower()
    if not email or unstorable(email) or len(email) > 254:
        return None
    return Lead.objects.filter(email=email).first()


def preview_draft(model_admin, request):
    """{"subject", "html", "text", "lead"} of the posted (unsaved) subject and bodies, or 400
    {"errors": {field: [message]}} when they do not compile or are malformed. POST only."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    sources = {name: request.POST.get(name, "") for name in ("subject", "body_html", "body_text")}
    errors = {}
    for name, value in sources.items():
        if unstorable(value):
            errors[name] = ["NUL characters are not allowed."]
        elif len(value) > MAX_BODY:
            errors[name] = [f"At most {MAX_BODY} characters."]
    if has_line_break(sources["subject"]):
        errors["subject"] = ["Line breaks are not allowed here."]
    errors = errors or rendering.validate_template_source(**sources)
    if errors:
        return JsonResponse({"errors": errors}, status=400)
    lead = _lead_by_email(request.POST.get("lead_email", ""))
    try:
        rendered = rendering.render_preview(template=EmailTemplate(**sources), lead=lead)
    except DomainError as exc:
        return JsonResponse({"errors": {"body_html": [describe(exc)]}}, status=400)
    return JsonResponse({**rendered, "lead": lead.email if lead else None})


def lead_search(model_admin, request):
    """Up to SUGGESTIONS lead emails starting with `?q=` (case-insensitive), for the preview
    lead's suggestions."""
    if not request.user.has_perm("campaigns.view_lead"):
        raise PermissionDenied
    q = request.GET.get("q", "").strip().lower()
    if len(q) < 2 or unstorable(q):
        return JsonResponse({"results": []})
    emails = Lead.objects.filter(email__startswith=q).order_by("email").values_list("email", flat=True)[:SUGGESTIONS]
    return JsonResponse({"results": list(emails)})
