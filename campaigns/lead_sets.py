"""Sets of leads in SQL, the same on PostgreSQL and SQLite: a list bound as one parameter,
the usable-email test, "has any of these tags", and the `lead_filters` of endpoint 7.

- `lead_filters`: within one key any value matches (OR), across keys all must match (AND);
  `cities` compare case-insensitively, `created_after` is inclusive, `{}` matches every lead.
- A usable email (for leads already stored) is `something@something.tld` without spaces
  whose `email_status` is not `invalid`, the same test in SQL for filters and for ids.
"""

import json

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from .models import Lead

EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _pg() -> bool:
    return connection.vendor == "postgresql"


def values_set(values, pg_type: str) -> RawSQL:
    """A subquery yielding `values`, bound as ONE parameter however many there are
    (an array on PostgreSQL, a JSON list on SQLite), for `field__in=values_set(...)`."""
    values = list(values)
    if _pg():
        return RawSQL(f"SELECT unnest(%s::{pg_type}[])", (values,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(values),))


def valid_email_q() -> Q:
    """A lead that may become a recipient: a usable address, not known to be `invalid`
    (its domain takes no mail, campaigns.addresses)."""
    return Q(email__regex=EMAIL_REGEX) & ~Q(email_status="invalid")


def tags_any(tags) -> RawSQL:
    """A boolean condition on Lead: its `tags` list holds at least one of `tags`.
    Usable only in a query whose FROM is the lead table itself (not as a relabelled subquery)."""
    column = f"{connection.ops.quote_name(Lead._meta.db_table)}.{connection.ops.quote_name('tags')}"
    if _pg():
        # jsonb `?|`: any of the strings is an element of the top-level array.
        return RawSQL(f"{column} ?| %s::text[]", (list(tags),), output_field=BooleanField())
    return RawSQL(
        f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN (SELECT value FROM json_each(%s)))",
        (json.dumps(list(tags)),),
        output_field=BooleanField(),
    )


def leads_matching(filters: dict):
    """Leads matching `lead_filters` (validated): OR within a key, AND across keys."""
    qs = Lead.objects.order_by()
    if filters.get("sources"):
        qs = qs.filter(source__in=filters["sources"])
    if filters.get("statuses"):
        qs = qs.filter(status__in=filters["statuses"])
    if filters.get("cities"):
        qs = qs.alias(city_lower=Lower("city")).filter(city_lower__in=[c.lower() for c in filters["cities"]])
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=filters["created_after"])
    if filters.get("tags"):
        qs = qs.filter(tags_any(filters["tags"]))
    return qs
