"""Cleaned segment rules (see `rules.rules_clean`) → one `Q` on Lead: the whole segment is a
single WHERE clause, so counting, listing, exporting and adding to a campaign are each one
query whatever the rules.

Text fields use Django's case-insensitive lookups; tags and attributes use `sql.Condition`
(jsonb on PostgreSQL, JSON1 on SQLite); engagement over one campaign is an `Exists` over the lead's recipient
rows, over any campaign a test of the lead's rollup columns (campaigns/lead_engagement.py),
on the stamps that only people set (`opened_at`, `clicked_at` are never set by a
machine open or click; machine hits only move `machine_*_count`).
"""

import datetime as dt
from functools import reduce
from operator import and_, or_

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Lower
from django.db.models.lookups import In
from django.utils import timezone

from fliptech.ids import parse_pk

from .. import engagement
from ..models import CampaignRecipient
from . import sql
from .rules import ATTRIBUTE_PREFIX, TEXT_FIELDS, as_number

_TEXT_LOOKUP = {"contains": "icontains", "starts_with": "istartswith", "ends_with": "iendswith"}

# The stamp each engagement op looks at; "received" = sent and not bounced.
_STAMP = {"received": "sent_at", "opened": "opened_at", "clicked": "clicked_at", "replied": "replied_at"}
# The lead's rollup column of each stamp (over all its recipient rows).
_ROLLUP = {
    "sent_at": "last_received_at",
    "opened_at": "last_opened_at",
    "clicked_at": "last_clicked_at",
    "replied_at": "last_replied_at",
}


def _any(qs) -> Q:
    return reduce(or_, qs)


def _text(field: str, op: str, value) -> Q:
    if op == "is_empty":
        return Q(**{field: ""})
    if op == "is_not_empty":
        return ~Q(**{field: ""})
    if op in ("eq", "neq", "in", "not_in"):
        match = Q(In(Lower(F(field)), sorted({v.lower() for v in value})))
        return ~match if op in ("neq", "not_in") else match
    return _any(Q(**{f"{field}__{_TEXT_LOOKUP[op]}": v}) for v in value)


def _created(op: str, value) -> Q:
    if op == "within_days":
        return Q(created_at__gte=timezone.now() - dt.timedelta(days=value))
    moment = dt.datetime.fromisoformat(value)
    return Q(created_at__lt=moment) if op == "before" else Q(created_at__gt=moment)


def _engaged(stamp: str, value: dict) -> Exists:
    rows = CampaignRecipient.objects.filter(lead_id=OuterRef("pk"), **{f"{stamp}__isnull": False})
    if stamp == "sent_at":
        rows = rows.filter(bounced_at__isnull=True)
    campaign = value.get("campaign")
    if campaign is not None:
        pk = parse_pk(campaign)
        rows = rows.filter(campaign_id=pk) if pk is not None else rows.filter(campaign__campaign_id=campaign)
    if value.get("within_days"):
        rows = rows.filter(**{f"{stamp}__gte": timezone.now() - dt.timedelta(days=value["within_days"])})
    return Exists(rows.order_by().values("pk"))


def _rollup(stamp: str, value: dict) -> Q:
    """Any campaign: the lead's own rollup column (campaigns/lead_engagement.py), the latest
    such stamp of its recipient rows — so "any row within the window" is "the latest within it"."""
    column = _ROLLUP[stamp]
    if value.get("within_days"):
        return Q(**{f"{column}__gte": timezone.now() - dt.timedelta(days=value["within_days"])})
    return Q(**{f"{column}__isnull": False})


def _engagement(op: str, value: dict) -> Q:
    negated = op.startswith("not_")
    stamp = _STAMP[op.removeprefix("not_")]
    if value.get("campaign") is None:
        if not negated:
            return _rollup(stamp, value)
        if stamp == "sent_at":
            return ~_rollup(stamp, value)
        return _rollup("sent_at", value) & ~_rollup(stamp, value)
    if not negated:
        return Q(_engaged(stamp, value))
    if stamp == "sent_at":
        return ~Q(_engaged(stamp, value))
    # "received it (any one, without a campaign) and did not …"
    return Q(_engaged("sent_at", value)) & ~Q(_engaged(stamp, value))


def condition_q(condition: dict) -> Q:
    field, op, value = condition["field"], condition["op"], condition["value"]
    if field in TEXT_FIELDS:
        return _text(field, op, value)
    if field == "tags":
        return Q(sql.tags_condition(op, value))
    if field == "created_at":
        return _created(op, value)
    if field == "engagement":
        return _engagement(op, value)
    if field == "engagement_score":
        return engagement.score_q(op, value)
    key = field[len(ATTRIBUTE_PREFIX) :]
    number = None if op in ("contains", "exists", "not_exists") else as_number(value)
    return Q(sql.attribute_condition(op, key, value, number))


def rules_q(rules: dict) -> Q:
    """The WHERE of cleaned `rules` on Lead (suppression not applied). No conditions = every lead."""
    parts = [condition_q(condition) for condition in rules.get("conditions", [])]
    if not parts:
        return Q()
    return reduce(and_ if rules.get("match", "all") == "all" else or_, parts)
