"""CSV import and export in the lead admin: the pages behind the "Import CSV" and "Export CSV"
buttons of the lead list. Hooked into LeadAdmin by two lines (`change_list_template` and
`get_urls`), so the views stay here whatever becomes of the admin module.

Import is two steps on one page: choosing a file sends its first 64 KB to `preview`, which
answers the header and the guessed mapping (the same `csvio` functions as the API); the page
shows one select per column, and submitting sends the file with the chosen mapping to the
same `import_create` service as `POST /api/v1/leads/import`. The import's page then shows a
progress bar fed every second by `status.json` (the API's report shape) and the report.
"""

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from fliptech.errors import DomainError, describe

from .. import csvio, exports
from ..imports import import_create
from ..models import LeadImport
from ..serializers.imports import LeadImportSerializer

TEMPLATES = "admin/campaigns/lead/"


def lead_import_urls(model_admin):
    """URL patterns for LeadAdmin.get_urls (before the admin's own)."""
    wrap = model_admin.admin_site.admin_view

    def route(suffix, view, name):
        return path(suffix, wrap(lambda request, **kw: view(model_admin, request, **kw)), name=name)

    return [
        route("import/", import_view, "campaigns_lead_import"),
        route("import/preview/", preview_view, "campaigns_lead_import_preview"),
        route("import/<int:pk>/", import_status_view, "campaigns_lead_import_status"),
        route("import/<int:pk>/status.json", import_status_json, "campaigns_lead_import_status_json"),
        route("export/", export_view, "campaigns_lead_export"),
    ]


def _can_import(model_admin, request) -> bool:
    return model_admin.has_add_permission(request) and model_admin.has_change_permission(request)


def _context(model_admin, request, **extra):
    return {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, **extra}


def import_view(model_admin, request):
    if not _can_import(model_admin, request):
        raise PermissionDenied
    error = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose a CSV file."
        else:
            try:
                lead_import = import_create(
                    upload=upload,
                    mapping=request.POST.get("mapping") or None,
                    tags=request.POST.get("tags", ""),
                    update_existing=request.POST.get("update_existing") == "on",
                    user=request.user,
                )
            except DomainError as exc:
                error = describe(exc)
            else:
                return HttpResponseRedirect(reverse("admin:campaigns_lead_import_status", args=[lead_import.pk]))
    targets = [*csvio.TARGETS, csvio.IGNORE]
    return TemplateResponse(
        request,
        TEMPLATES + "import.html",
        _context(
            model_admin,
            request,
            title="Import leads from a CSV file",
            error=error,
            targets=targets,
            recent=LeadImport.objects.order_by("-created_at", "-id")[:10],
        ),
    )


def preview_view(model_admin, request):
    """POST: the first bytes of a file → {"headers", "targets", "sample"} or {"error"}."""
    if not _can_import(model_admin, request):
        raise PermissionDenied
    if request.method != "POST":
        return JsonResponse({"error": "POST the first bytes of the file."}, status=405)
    head = request.body[: csvio.HEAD_BYTES]
    try:
        delimiter, headers = csvio.sniff(head)
    except csvio.CsvProblem as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    lines = head.decode("utf-8-sig", errors="replace").splitlines()
    records = [cells for cells in csvio.csv.reader(lines, delimiter=delimiter) if any(c.strip() for c in cells)]
    return JsonResponse(
        {
            "delimiter": delimiter,
            "headers": [h.strip() for h in headers],
            "targets": [csvio.guess_target(h) for h in headers],
            "sample": records[1:4],
        }
    )


def _import_or_404(pk):
    lead_import = LeadImport.objects.filter(pk=pk).first()
    if lead_import is None:
        raise Http404("No import matches the given id.")
    return lead_import


def import_status_view(model_admin, request, pk):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    lead_import = _import_or_404(pk)
    report = LeadImportSerializer(lead_import).data
    return TemplateResponse(
        request,
        TEMPLATES + "import_status.html",
        _context(
            model_admin,
            request,
            title=f"Import of {lead_import.file_name or 'a CSV file'}",
            lead_import=lead_import,
            report=report,
            status_url=reverse("admin:campaigns_lead_import_status_json", args=[pk]),
            errors_url=reverse("lead-import-errors", args=[pk]),
        ),
    )


def import_status_json(model_admin, request, pk):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return JsonResponse(LeadImportSerializer(_import_or_404(pk)).data)


def export_view(model_admin, request):
    """The leads the list shows with its current filters, search and date drill-down."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        changelist = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        messages.error(request, "The list's filters are not valid; nothing was exported.")
        return HttpResponseRedirect(reverse("admin:campaigns_lead_changelist"))
    return exports.leads_csv(changelist.get_queryset(request))
