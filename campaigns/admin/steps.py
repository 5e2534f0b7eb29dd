"""The campaign page's follow-up steps (an inline): editable where `states.may_edit_steps`
says, read-only otherwise; positions renumbered 1, 2, … in the order shown after a save."""

from django.contrib import admin

from .. import states
from ..models import CampaignStep
from ..steps import renumber


class CampaignStepInline(admin.TabularInline):
    model = CampaignStep
    extra = 0
    fields = ["position", "delay", "condition", "template", "subject"]
    autocomplete_fields = ["template"]
    ordering = ["position"]
    verbose_name = "follow-up step"

    def _editable(self, obj) -> bool:
        return obj is None or states.may_edit_steps(obj.status)

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


def save_steps(formset) -> None:
    """Save the inline's steps, then renumber them 1, 2, … (the order the marketer gave)."""
    formset.save()
    renumber(formset.instance.pk)
