"""Query-string filters of the list endpoints (django-filter). A value that does not
parse is a 400 with DRF's field-error shape, never a 500 or a silently ignored filter."""

import datetime as dt

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from fliptech.ids import MAX_PK, parse_pk

from .models import Campaign, CampaignRecipient, EmailStatus, EmailTemplate, Lead


class IdField(forms.IntegerField):
    """A database id as `fliptech.ids.parse_pk` reads it; anything else is Django's
    "Enter a whole number." (or its range message for 0 and past 64 bits)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        pk = parse_pk(str(value).strip())
        if pk is not None:
            return pk
        number = super().to_python(value)  # not a number at all: "Enter a whole number."
        if number is not None and 0 < number <= MAX_PK:  # a valid id written otherwise: "١٢", "1.0"
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number  # out of range: the min/max validators say so


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_PK})
class IdFilter(django_filters.Filter):
    """An exact database id: a positive 64-bit integer (`1.5`, `abc`, `0`, 2**63, `²` → 400)."""

    field_class = IdField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_PK)
        super().__init__(*args, **kwargs)


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
        try:  # 0001-01-01T00:00+05:00 or 9999-12-31T23:00-05:00 has no UTC datetime
            moment = moment.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
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
        if is_date and moment.date() == dt.date.max:
            return qs  # the whole of 9999-12-31: every date there is (the next day would overflow)
        if is_date:
            return qs.filter(**{f"{self.field_name}__lt": moment + dt.timedelta(days=1)})
        return qs.filter(**{f"{self.field_name}__lte": moment})


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices, help_text="Exact status.")
    template_id = IdFilter(field_name="template_id", help_text="Campaigns using this template.")
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=255,
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


# --- Recipients, leads and templates (task B) ----------------------------------------------


def _search_terms(queryset, value, fields):
    """Every whitespace-separated term must match (icontains) one of `fields`."""
    for term in value.split()[:10]:
        condition = Q()
        for field in fields:
            condition |= Q(**{f"{field}__icontains": term})
        queryset = queryset.filter(condition)
    return queryset


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no, any case); anything else is a 400, not ignored."""

    default_error_messages = {"invalid": "Enter true or false."}
    VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


@extend_schema_field(OpenApiTypes.BOOL)  # not the model field's date-time
class HasFilter(django_filters.Filter):
    """`has_x=true`: the timestamp field is set; `false`: it is not."""

    field_class = StrictBooleanField

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(**{f"{self.field_name}__isnull": not value})


class RecipientFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=CampaignRecipient.Status.choices, help_text="Exact status.")
    has_opened = HasFilter(field_name="opened_at", help_text="Opened (true) or not (false).")
    has_clicked = HasFilter(field_name="clicked_at", help_text="Clicked (true) or not (false).")
    has_replied = HasFilter(field_name="replied_at", help_text="Replied (true) or not (false).")
    has_bounced = HasFilter(field_name="bounced_at", help_text="Bounced (true) or not (false).")
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=255,
        help_text="Case-insensitive: every word is in the email address, first or last name.",
    )

    class Meta:
        model = CampaignRecipient
        fields = ["status", "has_opened", "has_clicked", "has_replied", "has_bounced", "search"]

    def filter_search(self, queryset, name, value):
        return _search_terms(queryset, value, ["email_address", "first_name", "last_name"])


class LeadFilter(django_filters.FilterSet):
    source = django_filters.CharFilter(max_length=50, help_text="Exact source, e.g. craigslist.")
    status = django_filters.ChoiceFilter(choices=Lead.Status.choices, help_text="Exact lead status.")
    email_status = django_filters.ChoiceFilter(
        choices=EmailStatus.choices,
        help_text="The address's status: valid, risky (role account, disposable domain), invalid (the domain "
        "takes no mail), unknown.",
    )
    city = django_filters.CharFilter(lookup_expr="iexact", max_length=100, help_text="City, case-insensitive.")
    tag = django_filters.CharFilter(method="filter_tag", max_length=100, help_text="Leads having this tag.")
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=255,
        help_text="Case-insensitive: every word is in the email, first or last name or company.",
    )
    created_after = CreatedFromFilter(
        field_name="created_at", help_text="Created at or after (ISO 8601 date or date-time; naive = UTC)."
    )
    engagement_score__gt = django_filters.NumberFilter(method="filter_engagement", help_text="Engagement score > n.")
    engagement_score__gte = django_filters.NumberFilter(method="filter_engagement", help_text="Engagement score ≥ n.")
    engagement_score__lt = django_filters.NumberFilter(method="filter_engagement", help_text="Engagement score < n.")
    engagement_score__lte = django_filters.NumberFilter(method="filter_engagement", help_text="Engagement score ≤ n.")

    class Meta:
        model = Lead
        fields = ["source", "status", "email_status", "city", "tag", "search", "created_after"]

    def filter_engagement(self, queryset, name, value):
        from . import engagement

        return queryset.filter(engagement.score_q(name.rpartition("__")[2], float(value)))

    def filter_tag(self, queryset, name, value):
        from .audience import tags_any

        return queryset.filter(tags_any([value])) if value else queryset

    def filter_search(self, queryset, name, value):
        return _search_terms(queryset, value, ["email", "first_name", "last_name", "company"])


class TemplateFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(max_length=100, help_text="Exact category.")
    search = django_filters.CharFilter(
        method="filter_search", max_length=255, help_text="Case-insensitive: in the name, description or subject."
    )

    class Meta:
        model = EmailTemplate
        fields = ["category", "search"]

    def filter_search(self, queryset, name, value):
        return _search_terms(queryset, value, ["name", "description", "subject"])
