"""The admin's shared pieces: refusals as messages, ids from URLs, the by-campaign filter, a
paginator that skips full-table counts on big tables, and the read-only history base."""

import logging

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import urlencode

from fliptech.errors import DomainError, describe
from fliptech.ids import parse_pk

from ..models import Campaign, CampaignRecipient

logger = logging.getLogger(__name__)

RecipientStatus = CampaignRecipient.Status


# A refusal from a service, shown as an admin message.
REFUSALS = (DomainError, Http404)
error_text = describe


def by_pk(queryset, value):
    """The row of `queryset` (a manager or queryset) whose primary key `value` names, else None."""
    pk = parse_pk(value if isinstance(value, int) else str(value))
    return queryset.filter(pk=pk).first() if pk else None


def percent(value: float) -> str:
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
        pk = parse_pk(value)
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

    # History is never edited or deleted by hand, whoever asks (superusers included): the
    # page is view-only (no Save) and the list has no delete action.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
