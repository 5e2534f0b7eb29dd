"""Email templates: compile-checked on save, with a preview."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from fliptech.errors import DomainError

from .. import rendering
from ..models import EmailTemplate, Lead
from .forms import one_line_fields
from .shared import by_pk, error_text
from .template_editor import editor_context, editor_urls


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        one_line_fields(self, "name", "subject")

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
    change_form_template = "admin/campaigns/emailtemplate/change_form.html"  # merge tags, live preview

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, {**(extra_context or {}), **editor_context()})

    @admin.display(description="preview")
    def preview_link(self, obj):
        if not obj.pk:
            return "-"
        return format_html(
            '<a href="{}" target="_blank">Preview</a>', reverse("admin:campaigns_emailtemplate_preview", args=[obj.pk])
        )

    def get_urls(self):
        return [
            *editor_urls(self),
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
        except DomainError as exc:
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
