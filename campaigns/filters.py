"""Query-string filters of the list endpoints (django-filter). A value that does not
parse is a 400 with DRF's field-error shape, never a 500 or a silently ignored filter."""

import datetime as dt

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .models import Campaign


class IntegerFilter(django_filters.Filter):
    """An exact integer (`1.5`, `abc` → 400)."""

    field_class = forms.IntegerField


class DateOrDateTimeField(forms.Field):
    """ISO 8601 date (`2025-11-05`) or datetime; a naive datetime is taken as UTC.
    Cleans to (datetime, is_date)."""

    default_error_messages = {"invalid": "Enter an ISO 8601 date or date-time."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        value = value.strip()
        try:
            date = parse_date(value)
            if date is not None:
                return (dt.datetime.combine(date, dt.time.min, tzinfo=dt.UTC), True)
            moment = parse_datetime(value)
        except ValueError:  # well-formed but impossible, e.g. 2025-02-30
            moment = None
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=dt.UTC)
        return (moment, False)


class CreatedFromFilter(django_filters.Filter):
    """created_at ≥ the value (a date means from its start, UTC)."""

    field_class = DateOrDateTimeField

    def filter(self, qs, value):
        if value is None:
            return qs
        moment, _ = value
        return qs.filter(**{f"{self.field_name}__gte": moment})


class CreatedToFilter(django_filters.Filter):
    """created_at ≤ the value; a date includes that whole day (UTC)."""

    field_class = DateOrDateTimeField

    def filter(self, qs, value):
        if value is None:
            return qs
        moment, is_date = value
        if is_date:
            return qs.filter(**{f"{self.field_name}__lt": moment + dt.timedelta(days=1)})
        return qs.filter(**{f"{self.field_name}__lte": moment})


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices, help_text="Exact status.")
    template_id = IntegerFilter(field_name="template_id", help_text="Campaigns using this template.")
    search = django_filters.CharFilter(
        method="filter_search", max_length=255,
        help_text="Case-insensitive substring of the name or the description.",
    )
    date_from = CreatedFromFilter(
        field_name="created_at",
        help_text="Created at or after (ISO 8601 date or date-time; naive = UTC).",
    )
    date_to = CreatedToFilter(
        field_name="created_at",
        help_text="Created at or before (a plain date includes that whole day, UTC).",
    )

    class Meta:
        model = Campaign
        fields = ["status", "template_id", "search", "date_from", "date_to"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))
