"""Audience writes: adding leads to a campaign as one set operation, removing a
recipient, and upserting leads by email.

Decisions (where the contract is silent):
- A request's `lead_ids` and `leads` together hold at most `MAX_ITEMS` items.
- Every item is accounted for in the answer, in this order of precedence: duplicate in
  the request, unknown lead id / invalid lead object / lead without a usable email
  (`invalid`), already a recipient (`duplicates`), suppressed address (`suppressed`),
  else added (`successful`). So `total_processed = successful + duplicates + suppressed +
  invalid`, and `success` is true when nothing failed.
- An integer id that cannot be a primary key (0, negative, past 64 bits) is an unknown id,
  reported like any other; a non-integer is a 400 (the serializer refuses it).
- A lead object is validated on its own: a bad one (no valid email, an over-long value, a
  NUL byte, …) is reported as invalid with the reason and the rest go ahead. Upserting
  writes only the fields the object carries; a lead that exists keeps the others.
  `tags` and `attributes`, when given, replace the stored ones.
- `lead_filters`: within one key any value matches (OR), across keys all must match (AND);
  `cities` compare case-insensitively, `created_after` is inclusive, `{}` matches every
  lead. Matching leads are only counted, not listed, in the answer (there may be
  millions); each category gets one summary line in `errors`.
- A usable email (for leads already stored) is `something@something.tld` without spaces,
  the same test in SQL for filters and for ids.
- `total_recipients` is changed by exactly the number of rows inserted or deleted, with
  the campaign row locked for the whole operation, so concurrent adds stay exact.

Queries of one add, whatever the number of items: lock the campaign row; for `leads`,
INSERT … ON CONFLICT DO NOTHING then UPDATE … FROM for the rest; for ids, one
INSERT … SELECT whose WHERE holds the checks (lead exists, usable email, not already a
recipient, not suppressed — each a set condition, no per-row query), then one SELECT that
explains the ids not inserted; for `lead_filters`, one aggregate counting the matches by
category and one INSERT … SELECT; one UPDATE of `total_recipients`. Lists are bound as one
parameter (a PostgreSQL array, a JSON list on SQLite), and tokens are made by the database.
"""

import json
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils import timezone

from fliptech.errors import TooLarge
from fliptech.ids import MAX_PK

from . import states
from .exceptions import InvalidState
from .models import Campaign, CampaignRecipient, Lead, Suppression

MAX_ITEMS = 10_000
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_TAGS = 100
MAX_TAG_LENGTH = 100
MAX_ATTRIBUTES_CHARS = 20_000
# One-line values (a name may end up in a subject line, a mail header).
LINE_BREAKS = "\r\n\x0b\x0c\x85\u2028\u2029"


class TooManyItems(TooLarge):
    default_message = f"At most {MAX_ITEMS} lead ids and leads per request."
    default_code = "too_many_items"


# --- SQL building blocks shared by both databases ----------------------------------------


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
    return Q(email__regex=EMAIL_REGEX)


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


def _token_sql() -> str:
    """A fresh recipient token computed by the database: ≥128 random bits, hex."""
    if _pg():
        return "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')"
    return "lower(hex(randomblob(24)))"


def _insert_recipients(*, campaign, lead_pks_sql: str, lead_pks_params, now) -> list[int]:
    """INSERT … SELECT one pending recipient per lead whose id the subquery yields,
    snapshotting email and names; skip conflicts; return the lead ids inserted."""
    qn = connection.ops.quote_name
    R = CampaignRecipient
    now_db = R._meta.get_field("created_at").get_db_prep_save(now, connection)
    explicit = {
        "campaign": ("%s", [campaign.pk]),
        "lead": ("l.id", []),
        "email_address": ("l.email", []),
        "first_name": ("l.first_name", []),
        "last_name": ("l.last_name", []),
        "token": (_token_sql(), []),
        "created_at": ("%s", [now_db]),
        "updated_at": ("%s", [now_db]),
    }
    columns, exprs, params = [], [], []
    for field in R._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.name in explicit:
            sql, p = explicit[field.name]
        elif field.null:
            continue
        else:
            sql, p = "%s", [field.get_db_prep_save(field.get_default(), connection)]
        columns.append(qn(field.column))
        exprs.append(sql)
        params += p
    sql = (
        f"INSERT INTO {qn(R._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} FROM {qn(Lead._meta.db_table)} l "
        f"WHERE l.id IN ({lead_pks_sql}) "
        "{on_conflict} "
        f"RETURNING {qn('lead_id')}"
    )
    params = [*params, *lead_pks_params]
    with connection.cursor() as cursor:
        # The caller holds the campaign's row lock and has excluded its recipients, so a
        # plain INSERT (cheaper than ON CONFLICT's speculative insertion) cannot conflict
        # — unless a writer that does not take the lock got there first: then again,
        # skipping conflicts.
        # Rows are fetched inside the savepoint: SQLite runs the statement as they are read.
        try:
            with transaction.atomic():
                cursor.execute(sql.replace("{on_conflict}", ""), params)
                rows = cursor.fetchall()
        except IntegrityError:
            cursor.execute(sql.replace("{on_conflict}", "ON CONFLICT DO NOTHING"), params)
            rows = cursor.fetchall()
        return [row[0] for row in rows]


# --- The answer --------------------------------------------------------------------------


class _Report:
    def __init__(self):
        self.processed = self.added = self.duplicates = self.suppressed = self.invalid = 0
        self.errors = []

    def fail(self, kind: str, item, message: str, count: int = 1):
        setattr(self, kind, getattr(self, kind) + count)
        self.processed += count
        self.errors.append({"item": item, "message": message})

    def as_dict(self, total_recipients: int) -> dict:
        failed = self.duplicates + self.suppressed + self.invalid
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.duplicates, "duplicate(s) or already recipients"),
                (self.suppressed, "suppressed"),
                (self.invalid, "invalid"),
            )
            if n
        ]
        message = f"Added {self.added} of {self.processed} recipient(s)."
        if parts:
            message += " Not added: " + ", ".join(parts) + "."
        return {
            "success": failed == 0,
            "total_processed": self.processed,
            "successful": self.added,
            "failed": failed,
            "errors": self.errors,
            "message": message,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "invalid": self.invalid,
            "total_recipients": total_recipients,
        }


# --- Leads ---------------------------------------------------------------------------------

LEAD_TEXT_FIELDS = ("first_name", "last_name", "company", "phone", "city", "source")
LEAD_INPUT_FIELDS = ("email", *LEAD_TEXT_FIELDS, "status", "tags", "attributes")
_MAX_LENGTHS = {name: Lead._meta.get_field(name).max_length for name in LEAD_TEXT_FIELDS}
_STATUSES = frozenset(Lead.Status.values)


def json_problem(value) -> str | None:
    """Why `value` (JSON data) cannot be stored — a NUL character or a lone surrogate
    anywhere in it — or None."""
    text = json.dumps(value, ensure_ascii=False)
    if "\\u0000" in text:
        return "NUL characters are not allowed."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Invalid Unicode (lone surrogate)."
    return None


# What clean_text refuses (NUL, lone surrogates, line breaks), as one scan: a CSV import
# cleans millions of values through it.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff" + LINE_BREAKS + "]")


def clean_text(value, *, max_length: int) -> str:
    """A stored string: a str, no NUL/surrogates, at most `max_length` characters. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > max_length:
        raise ValueError(f"must have at most {max_length} characters")
    if _BAD_TEXT.search(value):  # one regex scan; the checks below only word the reason
        problem = json_problem(value)
        if problem:
            raise ValueError(problem.lower().rstrip("."))
        raise ValueError("line breaks are not allowed")
    return value.strip()


def clean_tags(value) -> list:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise ValueError(f"must be a list of at most {MAX_TAGS} strings")
    tags = []
    for tag in value:
        tag = clean_text(tag, max_length=MAX_TAG_LENGTH)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def clean_attributes(value) -> dict:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    text = json.dumps(value)
    # ASCII JSON writes NUL as \u0000 and every surrogate as \udxxx: only then is the
    # (slower) exact check needed.
    problem = json_problem(value) if "\\u0000" in text or "\\ud" in text else None
    if problem:
        raise ValueError(problem.lower().rstrip("."))
    if len(text) > MAX_ATTRIBUTES_CHARS:
        raise ValueError(f"must serialise to at most {MAX_ATTRIBUTES_CHARS} characters")
    return value


def lead_input_clean(obj) -> dict:
    """One lead object of a bulk request → the fields it sets (email lower-cased).
    Raises ValueError with a readable reason. `null` for a field means "not given"."""
    if not isinstance(obj, dict):
        raise ValueError("Expected an object with at least an email.")
    unknown = sorted(str(k) for k in obj if k not in LEAD_INPUT_FIELDS)
    if unknown:
        raise ValueError(f"Unknown field(s): {', '.join(unknown)[:200]}.")
    email = obj.get("email")
    if not isinstance(email, str) or not email.strip():
        raise ValueError("email: a valid email address is required.")
    email = email.strip().lower()
    try:
        if len(email) > 254 or _BAD_TEXT.search(email):
            raise DjangoValidationError("invalid")
        validate_email(email)
    except DjangoValidationError:
        raise ValueError("email: not a valid email address.") from None
    out = {"email": email}
    for name in LEAD_INPUT_FIELDS[1:]:
        value = obj.get(name)
        if value is None:
            continue
        try:
            if name in LEAD_TEXT_FIELDS:
                out[name] = clean_text(value, max_length=_MAX_LENGTHS[name])
            elif name == "status":
                if value not in _STATUSES:
                    raise ValueError(f"must be one of {', '.join(Lead.Status.values)}")
                out[name] = value
            elif name == "tags":
                out[name] = clean_tags(value)
            else:
                out[name] = clean_attributes(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}.") from None
    return out


_PG_TYPES = {"tags": "jsonb", "attributes": "jsonb"}
_DEFAULTS = {"status": Lead.Status.NEW.value, "tags": [], "attributes": {}}


def _recordset(rows: list[dict]) -> tuple[str, list]:
    """A FROM item `x` with one row per dict (columns LEAD_INPUT_FIELDS; absent = NULL),
    bound as one JSON parameter."""
    data = json.dumps(rows)
    if _pg():
        cols = ", ".join(f"{name} {_PG_TYPES.get(name, 'text')}" for name in LEAD_INPUT_FIELDS)
        return f"jsonb_to_recordset(%s::jsonb) AS x({cols})", [data]
    cols = ", ".join(
        f"json_extract(value, '$.{name}') AS {name}"
        if name not in _PG_TYPES
        else f"json(json_extract(value, '$.{name}')) AS {name}"
        for name in LEAD_INPUT_FIELDS
    )
    return f"(SELECT {cols} FROM json_each(%s)) AS x", [data]


def _default_sql(name: str) -> tuple[str, list]:
    default = _DEFAULTS.get(name, "")
    if name in _PG_TYPES:
        return ("%s::jsonb" if _pg() else "%s"), [json.dumps(default)]
    return "%s", [default]


def leads_upsert(*, leads: list[dict], now=None) -> dict[str, int]:
    """Upsert cleaned lead dicts (see `lead_input_clean`; emails lower-case and unique in
    the list) by email, case-insensitively, in two statements however many:
    INSERT … ON CONFLICT DO NOTHING for the new ones, then UPDATE … FROM for the rest,
    writing only the fields each dict carries. Returns {email: lead id}."""
    if not leads:
        return {}
    now = now or timezone.now()
    qn = connection.ops.quote_name
    table = qn(Lead._meta.db_table)
    now_db = Lead._meta.get_field("created_at").get_db_prep_save(now, connection)
    ids = {}

    from_sql, from_params = _recordset(leads)
    exprs, params = [], []
    for name in LEAD_INPUT_FIELDS[1:]:
        sql, p = _default_sql(name)
        exprs.append(f"COALESCE(x.{name}, {sql})")
        params += p
    insert = (
        f"INSERT INTO {table} (email, {', '.join(LEAD_INPUT_FIELDS[1:])}, created_at, updated_at) "
        f"SELECT x.email, {', '.join(exprs)}, %s, %s FROM {from_sql} WHERE x.email IS NOT NULL "
        f"ON CONFLICT DO NOTHING RETURNING id, email"
    )
    with connection.cursor() as cursor:
        cursor.execute(insert, [*params, now_db, now_db, *from_params])
        ids.update((email, pk) for pk, email in cursor.fetchall())

        rest = [lead for lead in leads if lead["email"] not in ids]
        if rest:
            from_sql, from_params = _recordset(rest)
            sets = ", ".join(f"{name} = COALESCE(x.{name}, {table}.{name})" for name in LEAD_INPUT_FIELDS[1:])
            update = (
                f"UPDATE {table} SET {sets}, updated_at = %s FROM {from_sql} "
                f"WHERE lower({table}.email) = x.email RETURNING {table}.id, {table}.email"
            )
            cursor.execute(update, [now_db, *from_params])
            ids.update((email.lower(), pk) for pk, email in cursor.fetchall())
    return ids


# --- Recipients ---------------------------------------------------------------------------


def _lock_for_recipients(campaign) -> Campaign:
    """The campaign row, locked until the end of the transaction, if its status lets
    recipients be added; else InvalidState."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not states.may_add_recipients(locked.status):
        raise InvalidState(f"Recipients cannot be added to a campaign that is {locked.status}.")
    return locked


def _addable(leads, campaign):
    """`leads` narrowed to those that can become recipients of `campaign` now."""
    return (
        leads.filter(valid_email_q())
        .exclude(Exists(CampaignRecipient.objects.filter(campaign_id=campaign.pk, lead_id=OuterRef("pk"))))
        .exclude(Exists(Suppression.objects.filter(email=Lower(OuterRef("email")))))
    )


def _add_by_ids(*, campaign, candidates: list, report: _Report, now) -> int:
    """candidates: [(item, lead id)] with distinct ids. Inserts the addable ones with one
    INSERT … SELECT, then explains the others (usually few) with one query; returns the
    number inserted."""
    if not candidates:
        return 0
    in_range = [pk for _, pk in candidates if 0 < pk <= MAX_PK]
    sql, params = (
        _addable(Lead.objects.filter(pk__in=values_set(in_range, "bigint")), campaign)
        .order_by()
        .values("pk")
        .query.sql_with_params()
    )
    inserted = set(_insert_recipients(campaign=campaign, lead_pks_sql=sql, lead_pks_params=params, now=now))
    report.processed += len(inserted)
    report.added += len(inserted)
    rest = [(item, pk) for item, pk in candidates if pk not in inserted]
    if not rest:
        return len(inserted)
    rows = (
        Lead.objects.filter(pk__in=values_set([pk for _, pk in rest if 0 < pk <= MAX_PK], "bigint"))
        .order_by()
        .annotate(
            usable=ExpressionWrapper(valid_email_q(), output_field=BooleanField()),
            already=Exists(CampaignRecipient.objects.filter(campaign_id=campaign.pk, lead_id=OuterRef("pk"))),
            suppressed_as=Subquery(Suppression.objects.filter(email=Lower(OuterRef("email"))).values("reason")[:1]),
        )
        .values_list("pk", "usable", "already", "suppressed_as")
    )
    found = {pk: (usable, already, reason) for pk, usable, already, reason in rows}
    for item, pk in rest:
        usable, already, reason = found.get(pk, (None, None, None))
        if usable is None:
            report.fail("invalid", item, "No lead with this id.")
        elif not usable:
            report.fail("invalid", item, "The lead has no valid email address.")
        elif already:
            report.fail("duplicates", item, "Already a recipient of this campaign.")
        elif reason:
            report.fail("suppressed", item, f"The address is suppressed ({reason}).")
        else:  # appeared after the insert (the campaign row is locked, so not a concurrent add)
            report.fail("invalid", item, "No lead with this id when the recipients were added.")
    return len(inserted)


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


def _add_by_filters(*, campaign, filters: dict, report: _Report, now) -> int:
    """Counts the matching leads by category in one query, inserts the addable ones with
    one INSERT … SELECT; returns the number inserted."""
    qs = leads_matching(filters)
    already = Exists(CampaignRecipient.objects.filter(campaign_id=campaign.pk, lead_id=OuterRef("pk")))
    suppressed = Exists(Suppression.objects.filter(email=Lower(OuterRef("email"))))
    usable = valid_email_q()
    counts = qs.aggregate(
        matched=Count("pk"),
        invalid=Count("pk", filter=~usable),
        already=Count("pk", filter=usable & already),
        suppressed=Count("pk", filter=usable & ~already & suppressed),
    )
    for kind, key, message in (
        ("invalid", "invalid", "matching lead(s) without a valid email address"),
        ("duplicates", "already", "matching lead(s) already recipients of this campaign"),
        ("suppressed", "suppressed", "matching lead(s) with a suppressed address"),
    ):
        if counts[key]:
            report.fail(kind, "lead_filters", f"{counts[key]} {message}.", count=counts[key])
    expected = counts["matched"] - counts["invalid"] - counts["already"] - counts["suppressed"]
    if expected <= 0:
        return 0
    sql, params = _addable(qs, campaign).values("pk").query.sql_with_params()
    inserted = len(_insert_recipients(campaign=campaign, lead_pks_sql=sql, lead_pks_params=params, now=now))
    report.processed += inserted
    report.added += inserted
    if inserted < expected:  # leads deleted or changed between the count and the insert
        report.fail(
            "invalid",
            "lead_filters",
            f"{expected - inserted} matching lead(s) changed while being added.",
            count=expected - inserted,
        )
    return inserted


def recipients_add(*, campaign, lead_ids=(), leads=(), lead_filters=None) -> dict:
    """Add leads to `campaign` as pending recipients; the BulkOperationResponse dict.

    `lead_ids`: integers. `leads`: raw lead objects (each validated here, then upserted by
    email). `lead_filters`: validated `{"sources", "statuses", "tags", "cities",
    "created_after"}`. A constant number of queries whatever the sizes. Raises
    InvalidState unless the campaign is draft, scheduled or paused. See the module
    docstring for how each item is reported.
    """
    report = _Report()
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_for_recipients(campaign)
        candidates, seen = [], set()
        for pk in lead_ids:
            if pk in seen:
                report.fail("duplicates", pk, "Duplicate in this request.")
            else:
                seen.add(pk)
                candidates.append((pk, pk))

        cleaned, emails = [], set()
        for index, obj in enumerate(leads):
            try:
                lead = lead_input_clean(obj)
            except ValueError as exc:
                email = obj.get("email") if isinstance(obj, dict) else None
                item = email if isinstance(email, str) and len(email) <= 254 else f"leads[{index}]"
                report.fail("invalid", item, str(exc))
                continue
            if lead["email"] in emails:
                report.fail("duplicates", lead["email"], "Duplicate in this request.")
                continue
            emails.add(lead["email"])
            cleaned.append(lead)
        # In email order: two requests upserting overlapping leads take row locks in the same order.
        cleaned.sort(key=lambda lead: lead["email"])
        for email, pk in leads_upsert(leads=cleaned, now=now).items():
            if pk in seen:
                report.fail("duplicates", email, "Duplicate in this request (also given in lead_ids).")
            else:
                seen.add(pk)
                candidates.append((email, pk))

        inserted = _add_by_ids(campaign=locked, candidates=candidates, report=report, now=now)
        if lead_filters is not None:
            inserted += _add_by_filters(campaign=locked, filters=lead_filters, report=report, now=now)
        if inserted:
            Campaign.objects.filter(pk=locked.pk).update(
                total_recipients=F("total_recipients") + inserted, updated_at=now
            )
    campaign.total_recipients = locked.total_recipients + inserted
    return report.as_dict(campaign.total_recipients)


def recipient_remove(*, campaign, recipient) -> Campaign:
    """Delete `recipient` from `campaign`, only while it is pending and the campaign is not
    running (else InvalidState, nothing changed); `total_recipients` goes down by one."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not states.may_remove_recipients(locked.status):
            raise InvalidState("Recipients cannot be removed while the campaign is running.")
        deleted, _ = CampaignRecipient.objects.filter(
            pk=recipient.pk, campaign_id=locked.pk, status=CampaignRecipient.Status.PENDING
        ).delete()
        if not deleted:
            recipient.status = (
                CampaignRecipient.objects.filter(pk=recipient.pk).values_list("status", flat=True).first() or "deleted"
            )
            raise InvalidState(f"Only pending recipients can be removed; this one is {recipient.status}.")
        Campaign.objects.filter(pk=locked.pk).update(
            total_recipients=F("total_recipients") - 1, updated_at=timezone.now()
        )
    locked.total_recipients -= 1
    return locked
