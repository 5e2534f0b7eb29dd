"""The admin site: FlipTech's header, and every model's list made safe against odd query
strings.

`FlipTechAdminConfig` (in INSTALLED_APPS instead of `django.contrib.admin`) makes
`FlipTechAdminSite` the default site, so `@admin.register` — ours and third-party apps'
(users, tokens, beat schedules) — goes through `FlipTechAdminSite.register`, which mixes
`SafeListMixin` into each ModelAdmin. No list then answers a 500 to a query string:

- a filter value no row can hold (a NUL character, a lone surrogate; a date-hierarchy
  year/month/day outside the calendar) gives an empty list and a warning naming the
  parameter — the truthful answer, since nothing matches it;
- a search term no row can hold matches nothing (the change list and autocomplete alike);
- every other malformed value keeps Django's answer (back to the list, `?e=1`).
"""

from datetime import datetime

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.views.main import ChangeList

from .text import unstorable


def _date_parts_unmatchable(lookup: dict, field: str) -> list[str]:
    """The date-hierarchy keys of `lookup` when together they name no calendar date
    (year 99999999999, month 13, 30 February, not a number…), else []."""
    keys = [f"{field}__{part}" for part in ("year", "month", "day")]
    given = {key: lookup[key][-1] for key in keys if lookup.get(key)}
    if not given:
        return []
    try:
        parts = [int(given.get(key, 1)) for key in keys]
        if not all(isinstance(v, str) and v.isascii() and v.isdigit() for v in given.values()):
            raise ValueError
        datetime(*parts)
    except (ValueError, OverflowError):
        return list(given)
    return []


class SafeChangeListMixin:
    """Drops the filter parameters no row can match before any filter (or the date
    hierarchy's links) sees them, and then shows an empty list (see the module docstring)."""

    def get_filters_params(self, params=None):
        lookup = super().get_filters_params(params)
        bad = [k for k, values in lookup.items() if any(isinstance(v, str) and unstorable(v) for v in values)]
        if self.date_hierarchy:
            bad += _date_parts_unmatchable(lookup, self.date_hierarchy)
        if bad:
            self.unmatchable = sorted(set(getattr(self, "unmatchable", [])) | set(bad))
            for key in set(bad):
                lookup.pop(key, None)
                self.params.pop(key, None)  # the date hierarchy's links read these
                self.filter_params.pop(key, None)
        return lookup

    def get_queryset(self, request, exclude_parameters=None):
        qs = super().get_queryset(request, exclude_parameters)
        bad = getattr(self, "unmatchable", None)
        if bad:
            if not getattr(self, "_warned", False):
                self._warned = True
                messages.warning(request, f"No row can match the value given for: {', '.join(bad)[:200]}.")
            return qs.none()
        return qs


_SAFE_CHANGELISTS = {}


def safe_changelist(base: type[ChangeList]) -> type[ChangeList]:
    if base not in _SAFE_CHANGELISTS:
        _SAFE_CHANGELISTS[base] = type(f"Safe{base.__name__}", (SafeChangeListMixin, base), {})
    return _SAFE_CHANGELISTS[base]


class SafeListMixin:
    """Mixed into every registered ModelAdmin by `FlipTechAdminSite.register`."""

    def get_changelist(self, request, **kwargs):
        return safe_changelist(super().get_changelist(request, **kwargs))

    def get_search_results(self, request, queryset, search_term):
        if search_term and unstorable(search_term):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)


class FlipTechAdminSite(admin.AdminSite):
    site_header = "FlipTech Campaigns"
    site_title = "FlipTech Campaigns"
    index_title = "Campaigns, audience and results"

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SafeListMixin):
            admin_class = type(
                admin_class.__name__, (SafeListMixin, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)


class FlipTechAdminConfig(AdminConfig):
    default_site = "fliptech.admin_site.FlipTechAdminSite"
