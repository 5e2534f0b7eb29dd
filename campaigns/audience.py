"""Audience writes: adding leads to a campaign as one set operation, and removing a
recipient. Lead objects are cleaned and upserted in `lead_input`; the SQL sets of leads
(ids, `lead_filters`, tags) are in `lead_sets`; segments are compiled by `segments`.

Decisions (where the contract is silent):
- A request's `lead_ids` and `leads` together hold at most `MAX_ITEMS` items.
- Every item is accounted for in the answer, in this order of precedence: duplicate in
  the request, unknown lead id / invalid lead object / lead without a usable email
  (`invalid`), already a recipient (`duplicates`), suppressed address (`suppressed`),
  else added (`successful`). So `total_processed = successful + duplicates + suppressed +
  invalid`, and `success` is true when nothing failed. A lead whose `email_status` is
  `invalid` (its domain takes no mail) is not added (`invalid`); `risky` counts the added
  recipients whose address is risky (role account, disposable domain) — added all the same
  (not an error; the `message` says how many).
- An integer id that cannot be a primary key (0, negative, past 64 bits) is an unknown id,
  reported like any other; a non-integer is a 400 (the serializer refuses it).
- A bad lead object is reported as invalid with the reason and the rest go ahead.
- `lead_filters` and `segment` (every lead its rules match, now): matching leads are only
  counted, not listed, in the answer (there may be millions); each category gets one
  summary line in `errors` (item `"lead_filters"` / `"segment_id"`).
- `total_recipients` is changed by exactly the number of rows inserted or deleted, with
  the campaign row locked for the whole operation, so concurrent adds stay exact.

Queries of one add, whatever the number of items: lock the campaign row; for `leads`,
INSERT … ON CONFLICT DO NOTHING then UPDATE … FROM for the rest; for ids, one
INSERT … SELECT whose WHERE holds the checks (lead exists, usable email, not already a
recipient, not suppressed — each a set condition, no per-row query), then one SELECT that
explains the ids not inserted; for `lead_filters` and for a segment, on PostgreSQL one
statement (the matches materialised once, inserted from and counted by category), elsewhere
one aggregate counting the matches by category and one INSERT … SELECT; one UPDATE of
`total_recipients`. Lists
are bound as one parameter (a PostgreSQL array, a JSON list on SQLite), and tokens are made
by the database.
"""

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone

from fliptech.errors import TooLarge
from fliptech.ids import MAX_PK

from . import states
from .exceptions import InvalidState

# Re-exported: these lived here before the split, callers may still import them from here.
from .lead_input import (  # noqa: F401
    LEAD_INPUT_FIELDS,
    LEAD_TEXT_FIELDS,
    LINE_BREAKS,
    MAX_ATTRIBUTES_CHARS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    clean_attributes,
    clean_tags,
    clean_text,
    json_problem,
    lead_input_clean,
    leads_upsert,
)
from .lead_sets import EMAIL_REGEX, leads_matching, tags_any, valid_email_q, values_set  # noqa: F401
from .models import Campaign, CampaignRecipient, Lead, Suppression
from .segments.selectors import rules_matching

MAX_ITEMS = 10_000
# Two of the per-item reasons, named so the admin can tell "already there" from "repeated".
ALREADY_RECIPIENT = "Already a recipient of this campaign."
DUPLICATE_IN_REQUEST = "Duplicate in this request."


class TooManyItems(TooLarge):
    default_message = f"At most {MAX_ITEMS} lead ids and leads per request."
    default_code = "too_many_items"


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _token_sql() -> str:
    """A fresh recipient token computed by the database: ≥128 random bits, hex.

    On PostgreSQL it starts with the row's insertion time (µs since the epoch, 14 hex digits)
    so the rows of a bulk add append to the right edge of the token's unique index instead of
    each touching a random leaf of it (on a table of millions of rows, a page read and a
    full-page WAL image per row); the 48 random hex digits after it (two v4 UUIDs' first 48
    digits: > 180 random bits) are what makes it unguessable. It tells only when the
    recipient was added."""
    if _pg():
        return (
            "lpad(to_hex((extract(epoch from clock_timestamp()) * 1000000)::bigint), 14, '0') || "
            "left(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 48)"
        )
    return "lower(hex(randomblob(24)))"


def _recipient_row(*, campaign, now) -> tuple[list[str], list[str], list]:
    """(columns, expressions, params) of a pending recipient made from lead row `l`:
    email and names snapshotted, a fresh token, every other column its default."""
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
    return columns, exprs, params


def _insert_sql(*, campaign, now, source: str) -> tuple[str, list]:
    """`INSERT INTO recipients (…) SELECT … FROM <source>` (`source` names the lead rows `l`,
    its params follow), with an `{on_conflict}` slot."""
    columns, exprs, params = _recipient_row(campaign=campaign, now=now)
    table = connection.ops.quote_name(CampaignRecipient._meta.db_table)
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM {source} {{on_conflict}}", params


def _execute_insert(sql: str, params) -> list:
    """Run an INSERT with an `{on_conflict}` slot; its rows (RETURNING), if any.

    The caller holds the campaign's row lock and has excluded its recipients, so a plain
    INSERT (cheaper than ON CONFLICT's speculative insertion) cannot conflict — unless a
    writer that does not take the lock got there first: then again, skipping conflicts.
    Rows are fetched inside the savepoint: SQLite runs the statement as they are read."""
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(sql.replace("{on_conflict}", ""), params)
                return cursor.fetchall()
        except IntegrityError:
            cursor.execute(sql.replace("{on_conflict}", "ON CONFLICT DO NOTHING"), params)
            return cursor.fetchall()


def _insert_recipients(*, campaign, lead_pks_sql: str, lead_pks_params, now) -> list[int]:
    """INSERT … SELECT one pending recipient per lead whose id the subquery yields; skip
    conflicts; return the lead ids inserted."""
    lead_table = connection.ops.quote_name(Lead._meta.db_table)
    sql, params = _insert_sql(campaign=campaign, now=now, source=f"{lead_table} l WHERE l.id IN ({lead_pks_sql})")
    rows = _execute_insert(sql + " RETURNING lead_id", [*params, *lead_pks_params])
    return [row[0] for row in rows]


# --- The answer --------------------------------------------------------------------------


class _Report:
    def __init__(self):
        self.processed = self.added = self.duplicates = self.suppressed = self.invalid = self.risky = 0
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
        if self.risky:
            message += f" {self.risky} added address(es) are risky (role accounts or disposable domains)."
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
            "risky": self.risky,
            "total_recipients": total_recipients,
        }


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
            report.fail("invalid", item, "The lead has no valid email address (or its domain takes no mail).")
        elif already:
            report.fail("duplicates", item, ALREADY_RECIPIENT)
        elif reason:
            report.fail("suppressed", item, f"The address is suppressed ({reason}).")
        else:  # appeared after the insert (the campaign row is locked, so not a concurrent add)
            report.fail("invalid", item, "No lead with this id when the recipients were added.")
    return len(inserted)


_SET_MESSAGES = (
    ("invalid", "invalid", "matching lead(s) without a valid email address"),
    ("duplicates", "already", "matching lead(s) already recipients of this campaign"),
    ("suppressed", "suppressed", "matching lead(s) with a suppressed address"),
)


def _classified(qs, campaign):
    """`qs` with the three flags each match is reported by: usable, already, suppressed."""
    return qs.annotate(
        is_usable=ExpressionWrapper(valid_email_q(), output_field=BooleanField()),
        is_already=Exists(CampaignRecipient.objects.filter(campaign_id=campaign.pk, lead_id=OuterRef("pk"))),
        is_suppressed=Exists(Suppression.objects.filter(email=Lower(OuterRef("email")))),
    )


def _count_and_insert_pg(*, campaign, qs, now) -> tuple[dict, int]:
    """PostgreSQL: the rules evaluated once — the matches (with their flags) in a
    materialised CTE, the addable ones inserted from it, the categories counted from it —
    in ONE statement. Returns (counts, rows inserted)."""
    m_sql, m_params = (
        _classified(qs, campaign)
        .values("id", "email", "first_name", "last_name", "is_usable", "is_already", "is_suppressed")
        .query.sql_with_params()
    )
    insert, insert_params = _insert_sql(
        campaign=campaign, now=now, source="m l WHERE l.is_usable AND NOT l.is_already AND NOT l.is_suppressed"
    )
    sql = (
        f"WITH m AS MATERIALIZED ({m_sql}), ins AS ({insert} RETURNING 1) "
        "SELECT count(*), count(*) FILTER (WHERE NOT is_usable), count(*) FILTER (WHERE is_usable AND is_already), "
        "count(*) FILTER (WHERE is_usable AND NOT is_already AND is_suppressed), (SELECT count(*) FROM ins) FROM m"
    )
    ((matched, invalid, already, suppressed, inserted),) = _execute_insert(sql, [*m_params, *insert_params])
    counts = {"matched": matched, "invalid": invalid, "already": already, "suppressed": suppressed}
    return counts, inserted


def _count_and_insert(*, campaign, qs, now) -> tuple[dict, int]:
    """Elsewhere (SQLite): one aggregate counting the categories, one INSERT … SELECT."""
    usable, already, suppressed = (Q(is_usable=True), Q(is_already=True), Q(is_suppressed=True))
    counts = _classified(qs, campaign).aggregate(
        matched=Count("pk"),
        invalid=Count("pk", filter=~usable),
        already=Count("pk", filter=usable & already),
        suppressed=Count("pk", filter=usable & ~already & suppressed),
    )
    expected = counts["matched"] - counts["invalid"] - counts["already"] - counts["suppressed"]
    if expected <= 0:
        return counts, 0
    sql, params = _addable(qs, campaign).values("pk").query.sql_with_params()
    return counts, len(_insert_recipients(campaign=campaign, lead_pks_sql=sql, lead_pks_params=params, now=now))


def _add_by_query(*, campaign, qs, item: str, report: _Report, now) -> int:
    """Every lead of `qs` (a set given by rules: `lead_filters` or a segment): the matches
    counted by category and the addable ones inserted (one statement on PostgreSQL, two
    elsewhere); returns the number inserted. `item` names the set in `errors`."""
    counts, inserted = (_count_and_insert_pg if _pg() else _count_and_insert)(campaign=campaign, qs=qs, now=now)
    for kind, key, message in _SET_MESSAGES:
        if counts[key]:
            report.fail(kind, item, f"{counts[key]} {message}.", count=counts[key])
    expected = counts["matched"] - counts["invalid"] - counts["already"] - counts["suppressed"]
    report.processed += inserted
    report.added += inserted
    if inserted < expected:  # leads deleted or changed between the count and the insert
        report.fail(
            "invalid",
            item,
            f"{expected - inserted} matching lead(s) changed while being added.",
            count=expected - inserted,
        )
    return inserted


def _count_risky(*, campaign, report: _Report, now) -> None:
    """`risky`: the recipients this add inserted (every row carries `now`; the campaign row is
    locked, so no other add interleaves) whose lead's address is risky — one query."""
    report.risky = CampaignRecipient.objects.filter(
        campaign_id=campaign.pk, created_at=now, lead__email_status="risky"
    ).count()


def recipients_add(*, campaign, lead_ids=(), leads=(), lead_filters=None, segment=None) -> dict:
    """Add leads to `campaign` as pending recipients; the BulkOperationResponse dict.

    `lead_ids`: integers. `leads`: raw lead objects (each validated here, then upserted by
    email). `lead_filters`: validated `{"sources", "statuses", "tags", "cities",
    "created_after"}`. `segment`: a Segment, every lead its rules match now.
    A constant number of queries whatever the sizes. Raises
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
                report.fail("duplicates", pk, DUPLICATE_IN_REQUEST)
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
                report.fail("duplicates", lead["email"], DUPLICATE_IN_REQUEST)
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
            qs = leads_matching(lead_filters)
            inserted += _add_by_query(campaign=locked, qs=qs, item="lead_filters", report=report, now=now)
        if segment is not None:
            qs = rules_matching(segment.rules)
            inserted += _add_by_query(campaign=locked, qs=qs, item="segment_id", report=report, now=now)
        if inserted:
            Campaign.objects.filter(pk=locked.pk).update(
                total_recipients=F("total_recipients") + inserted, updated_at=now
            )
            _count_risky(campaign=locked, report=report, now=now)
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
