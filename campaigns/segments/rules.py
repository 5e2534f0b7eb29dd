"""Segment rules as data: which field takes which ops and what value, and `rules_clean`,
the one validator (API serializers and the admin's builder both call it).

`rules` = `{"match": "all" | "any", "conditions": [{"field", "op", "value"}, …]}`.

Decisions where the contract is silent (also in the OpenAPI schema):
- Text fields take a string or a non-empty list of strings for every op but `is_empty` /
  `is_not_empty` (which ignore `value`). A list means "any of them" (`eq`, `in`, `contains`,
  `starts_with`, `ends_with`) or "none of them" (`neq`, `not_in`); `in` with a string is `eq`.
- Tags compare exactly (they are labels, matched by the GIN index); the list must not be empty.
- `attributes.<key>`: the key is everything after the first dot (one top-level key), 1–100
  characters without `"`, `\\` or control characters. `gt`/`gte`/`lt`/`lte` with a number (or
  numeric string) match only leads whose value is numeric; with any other string they compare
  text (case-insensitively, by code point: ISO dates order correctly). A boolean matches
  `true`/`false` stored as JSON booleans or as strings (a CSV import stores strings).
- `created_at`: `before` / `after` take an ISO 8601 date or datetime (naive = UTC; a date is its
  midnight UTC) and are strict; `within_days` takes a number > 0 (days back from now).
- `engagement`: `value` is `{}` / null or has `campaign` (numeric id or `camp_…` public id of a
  live campaign) and/or `within_days` (> 0; the event's own time — sent, opened, … — within
  that many days). "Received" means sent and not bounced.
- `engagement_score`: `gt`, `gte`, `lt`, `lte` with a number 0–100 (the score now; see
  campaigns/engagement.py).
- An empty `conditions` list matches every lead. At most `MAX_CONDITIONS` conditions.
"""

import datetime as dt
import math
import re
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from fliptech.errors import Invalid
from fliptech.ids import parse_pk

MAX_CONDITIONS = 100
MAX_VALUES = 1000
MAX_TEXT = 255
MAX_DAYS = 36_500

TEXT_FIELDS = ("email", "first_name", "last_name", "company", "phone", "city", "source", "status")
TEXT_OPS = ("eq", "neq", "in", "not_in", "contains", "starts_with", "ends_with", "is_empty", "is_not_empty")
TAG_OPS = ("has_any", "has_all", "has_none")
ATTRIBUTE_OPS = ("eq", "neq", "contains", "gt", "gte", "lt", "lte", "exists", "not_exists")
CREATED_OPS = ("before", "after", "within_days")
ENGAGEMENT_OPS = (
    "received",
    "not_received",
    "opened",
    "not_opened",
    "clicked",
    "not_clicked",
    "replied",
    "not_replied",
)
SCORE_OPS = ("gt", "gte", "lt", "lte")
ATTRIBUTE_PREFIX = "attributes."

# A number as a CSV import stores it: optional sign, digits with an optional decimal point,
# an optional short exponent, spaces around. \A and \Z mean the same in Python and in
# PostgreSQL's regular expressions (`$` would let "5\n" through in Python only).
NUMERIC_RE = r"\A *[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]{1,3})? *\Z"
_NUMERIC = re.compile(NUMERIC_RE)
_BAD_KEY = re.compile(r'["\\\x00-\x1f\x7f]')


def ops_for(field) -> tuple[str, ...] | None:
    """The ops `field` takes, or None for an unknown field."""
    if field in TEXT_FIELDS:
        return TEXT_OPS
    if field == "tags":
        return TAG_OPS
    if isinstance(field, str) and field.startswith(ATTRIBUTE_PREFIX):
        return ATTRIBUTE_OPS
    if field == "created_at":
        return CREATED_OPS
    if field == "engagement":
        return ENGAGEMENT_OPS
    if field == "engagement_score":
        return SCORE_OPS
    return None


def as_number(value) -> Decimal | None:
    """`value` as a number when it is one (not a bool) or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str) and len(value) <= 100 and _NUMERIC.match(value):
        return Decimal(value.strip())
    return None


def _string(value) -> str:
    if not isinstance(value, str):
        raise ValueError("value must be a string")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise ValueError(f"value must be a string of at most {MAX_TEXT} characters without NUL")
    return value


def _strings(value, *, what="value") -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
        raise ValueError(f"{what} must be a string or a list of 1–{MAX_VALUES} strings")
    return [_string(item) for item in value]


def _days(value, *, what="value") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_DAYS:
        raise ValueError(f"{what} must be a number of days greater than 0 and at most {MAX_DAYS}")
    return value


def _moment(value) -> str:
    if isinstance(value, str) and len(value) <= 64:
        try:
            date = parse_date(value.strip())
            moment = dt.datetime.combine(date, dt.time.min, tzinfo=dt.UTC) if date else parse_datetime(value.strip())
            if moment is not None:
                if timezone.is_naive(moment):
                    moment = moment.replace(tzinfo=dt.UTC)
                return moment.astimezone(dt.UTC).isoformat()
        except (ValueError, OverflowError):
            pass
    raise ValueError("value must be an ISO 8601 date or datetime")


def _engagement(value, check_campaigns: bool) -> dict:
    from campaigns.models import Campaign

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError('value must be an object {"campaign"?, "within_days"?}')
    unknown = sorted(str(key)[:50] for key in value if key not in ("campaign", "within_days"))
    if unknown:
        raise ValueError(f"unknown key(s) in value: {', '.join(unknown)}")
    out = {}
    if value.get("campaign") is not None:
        key = value["campaign"]
        pk = parse_pk(key)
        if pk is None and not (isinstance(key, str) and 0 < len(key) <= 17 and not isinstance(key, bool)):
            raise ValueError("value.campaign must be a campaign id or public id")
        if not check_campaigns:
            found = True
        elif pk is not None:
            found = Campaign.objects.filter(pk=pk).exists()
        else:
            found = Campaign.objects.filter(campaign_id=key).exists()
        if not found:
            raise ValueError(f"no campaign {key!r}")
        out["campaign"] = key
    if value.get("within_days") is not None:
        out["within_days"] = _days(value["within_days"], what="value.within_days")
    return out


def condition_clean(condition, check_campaigns: bool = True) -> dict:
    """One condition, cleaned (`value` normalised); ValueError says what is wrong."""
    if not isinstance(condition, dict):
        raise ValueError('expected an object {"field", "op", "value"}')
    unknown = sorted(str(key)[:50] for key in condition if key not in ("field", "op", "value"))
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(unknown)}")
    field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    ops = ops_for(field)
    if ops is None:
        raise ValueError(f"unknown field {str(field)[:100]!r}")
    if op not in ops:
        raise ValueError(f"unknown op {str(op)[:50]!r} for field {field!r} (one of: {', '.join(ops)})")
    if field in TEXT_FIELDS:
        value = None if op in ("is_empty", "is_not_empty") else _strings(value)
    elif field == "tags":
        value = _strings(value if isinstance(value, list) else None, what="value (tags)")
    elif field == "created_at":
        value = _days(value) if op == "within_days" else _moment(value)
    elif field == "engagement":
        value = _engagement(value, check_campaigns)
    elif field == "engagement_score":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError("value must be a number from 0 to 100")
    else:
        key = field[len(ATTRIBUTE_PREFIX) :]
        if not key or len(key) > 100 or _BAD_KEY.search(key):
            raise ValueError('the attribute key must be 1–100 characters without quotes, "\\" or control characters')
        if op in ("exists", "not_exists"):
            value = None
        elif isinstance(value, bool):
            if op not in ("eq", "neq"):
                raise ValueError(f"{op} takes a string or a number, not a boolean")
        elif isinstance(value, (int, float)):
            if as_number(value) is None:
                raise ValueError("value must be a finite number")
        else:
            value = _string(value)
    return {"field": field, "op": op, "value": value}


def rules_clean(rules, *, check_campaigns: bool = True) -> dict:
    """`rules` validated and normalised, or `Invalid` (fliptech.errors) whose fields name the
    condition's index: `{"conditions": {"2": ["Condition 2: unknown op …"]}}` (or `{"match": […]}`).

    Segments store the rules as given; they are cleaned again when compiled, with
    `check_campaigns=False` (a campaign deleted since then matches nobody, it is no error)."""
    if not isinstance(rules, dict):
        raise Invalid({"non_field_errors": ['Expected an object {"match", "conditions"}.']})
    unknown = sorted(str(key)[:50] for key in rules if key not in ("match", "conditions"))
    if unknown:
        raise Invalid({key: ["Unknown key."] for key in unknown[:20]})
    match = rules.get("match", "all")
    if match not in ("all", "any"):
        raise Invalid({"match": ['Must be "all" or "any".']})
    conditions = rules.get("conditions", [])
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise Invalid({"conditions": [f"Must be a list of at most {MAX_CONDITIONS} conditions."]})
    cleaned, errors = [], {}
    for index, condition in enumerate(conditions):
        try:
            cleaned.append(condition_clean(condition, check_campaigns))
        except ValueError as exc:
            errors[str(index)] = [f"Condition {index}: {exc}."]
    if errors:
        raise Invalid({"conditions": errors})
    return {"match": match, "conditions": cleaned}
