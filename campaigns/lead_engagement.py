"""A lead's engagement rollup: when it last received, opened, clicked and replied to any
campaign, kept on the lead row (beside its engagement score, `engagement_key`) by triggers on
the recipient table, so a segment rule over "any campaign" is a column test on the lead table
instead of a semi-join over every recipient row (docs/segments.md, "Engagement rollup").

Each column is the latest stamp of the lead's recipient rows, exact whatever code path wrote
them (the sender, the tracking fast path, webhooks, replies, the admin, tests):

| lead column        | over its recipient rows                     |
|--------------------|---------------------------------------------|
| `last_received_at` | max `sent_at` of rows not bounced           |
| `last_opened_at`   | max `opened_at` (people only: machine opens never set it) |
| `last_clicked_at`  | max `clicked_at` (people only)              |
| `last_replied_at`  | max `replied_at`, and the latest reply's time (tracking/replies/record.py) |

The triggers are row-level and fire only when a stamp (or the lead) of a row changes, so a
bulk add of pending recipients pays nothing and a tracking hit that only moves a counter pays
nothing. A stamp that grows moves the column with GREATEST; one that goes away or back (a
bounce after the send, a send given back by the sender, a deleted row) recomputes the column
from the lead's rows (few, through the lead index). `last_replied_at` only grows: a reply
stays a reply.

The rollup columns are not indexed (each update stays a HOT update where the page has room;
the lead table's fillfactor leaves it some); a count scans the lead table once, in parallel.
On SQLite the triggers are put back after every migrate (campaigns/apps.py).
"""

LEADS = "campaigns_lead"
RECIPIENTS = "campaigns_campaignrecipient"
NAME = "lead_engagement_rollup"

# lead column → (the stamp of a recipient row `r`, recomputed when it shrinks)
ROLLUP = {
    "last_received_at": ("CASE WHEN r.bounced_at IS NULL THEN r.sent_at END", True),
    "last_opened_at": ("r.opened_at", True),
    "last_clicked_at": ("r.clicked_at", True),
    "last_replied_at": ("r.replied_at", False),
}
STAMPS = ("sent_at", "bounced_at", "opened_at", "clicked_at", "replied_at")


def _stamp(column: str, alias: str) -> str:
    return ROLLUP[column][0].replace("r.", f"{alias}.")


def _greatest(vendor: str, a: str, b: str) -> str:
    if vendor == "postgresql":
        return f"GREATEST({a}, {b})"  # ignores NULLs
    return f"(CASE WHEN {a} IS NULL OR {b} > {a} THEN {b} ELSE {a} END)"


def _recount(column: str, lead: str) -> str:
    return f"(SELECT max({_stamp(column, 'x')}) FROM {RECIPIENTS} x WHERE x.lead_id = {lead})"


def _set_grown(vendor: str, alias: str | None) -> str:
    """SET list: each column moved to NEW's stamp when that is later. For an UPDATE (`alias`
    names the lead row), a stamp that shrank (OLD's was later, or NEW has none) recomputes
    the column instead; for an INSERT (`alias` None) there is no OLD."""
    prefix = f"{alias}." if alias else ""
    lead = f"{prefix}id" if vendor == "postgresql" else "NEW.lead_id"
    parts = []
    for column, (_, recount) in ROLLUP.items():
        new, old = _stamp(column, "NEW"), _stamp(column, "OLD")
        value = _greatest(vendor, f"{prefix}{column}", new)
        if recount and alias is not None:
            shrank = f"{old} IS NOT NULL AND ({new} IS NULL OR {new} < {old})"
            value = f"CASE WHEN {shrank} THEN {_recount(column, lead)} ELSE {value} END"
        parts.append(f"{column} = {value}")
    return ", ".join(parts)


def _set_recount(vendor: str, lead: str) -> str:
    """SET list: every column recomputed from the lead's rows (`last_replied_at` only grows)."""
    parts = []
    for column, (_, recount) in ROLLUP.items():
        value = _recount(column, lead)
        parts.append(f"{column} = {value if recount else _greatest(vendor, column, value)}")
    return ", ".join(parts)


def _any_stamp(alias: str) -> str:
    return " OR ".join(f"{alias}.{s} IS NOT NULL" for s in STAMPS if s != "bounced_at")


def _changed(distinct: str) -> str:
    return " OR ".join(f"OLD.{s} {distinct} NEW.{s}" for s in (*STAMPS, "lead_id"))


def _triggers(vendor: str):
    """(op, body, WHEN) of the three triggers."""
    if vendor == "postgresql":
        insert = f"UPDATE {LEADS} SET {_set_grown(vendor, None)} WHERE id = NEW.lead_id;"
        update = (
            "IF OLD.lead_id IS DISTINCT FROM NEW.lead_id THEN "
            f"UPDATE {LEADS} l SET {_set_recount(vendor, 'l.id')} WHERE l.id IN (OLD.lead_id, NEW.lead_id); "
            f"ELSE UPDATE {LEADS} l SET {_set_grown(vendor, 'l')} WHERE l.id = NEW.lead_id; END IF;"
        )
        delete = f"UPDATE {LEADS} l SET {_set_recount(vendor, 'l.id')} WHERE l.id = OLD.lead_id;"
        changed = _changed("IS DISTINCT FROM")
    else:
        insert = f"UPDATE {LEADS} SET {_set_grown(vendor, None)} WHERE id = NEW.lead_id;"
        update = (
            f"UPDATE {LEADS} SET {_set_recount(vendor, f'{LEADS}.id')} "
            "WHERE OLD.lead_id IS NOT NEW.lead_id AND id IN (OLD.lead_id, NEW.lead_id); "
            f"UPDATE {LEADS} SET {_set_grown(vendor, '')} WHERE OLD.lead_id IS NEW.lead_id AND id = NEW.lead_id;"
        )
        delete = f"UPDATE {LEADS} SET {_set_recount(vendor, f'{LEADS}.id')} WHERE id = OLD.lead_id;"
        changed = _changed("IS NOT")
    return [
        ("INSERT", insert, f"NEW.lead_id IS NOT NULL AND ({_any_stamp('NEW')})"),
        ("UPDATE", update, changed),
        ("DELETE", delete, f"OLD.lead_id IS NOT NULL AND ({_any_stamp('OLD')})"),
    ]


def postgresql_sql() -> list[str]:
    statements = []
    for op, body, when in _triggers("postgresql"):
        fn = f"{NAME}_{op.lower()[:3]}"
        statements += [
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
            "RETURN NULL; END $$",
            f"CREATE TRIGGER {fn} AFTER {op} ON {RECIPIENTS} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {fn}()",
        ]
    return statements


def sqlite_sql() -> list[str]:
    return [
        f"CREATE TRIGGER {NAME}_{op.lower()[:3]} AFTER {op} ON {RECIPIENTS} FOR EACH ROW WHEN {when} BEGIN {body} END"
        for op, body, when in _triggers("sqlite")
    ]


def reverse_sql(vendor: str) -> list[str]:
    names = [f"{NAME}_{op}" for op in ("ins", "upd", "del")]
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {n} ON {RECIPIENTS}" for n in names] + [
            f"DROP FUNCTION IF EXISTS {n}()" for n in names
        ]
    return [f"DROP TRIGGER IF EXISTS {n}" for n in names]


def backfill_sql(vendor: str) -> str:
    """Every lead's rollup from its recipient rows, in one statement (the migration, and bulk
    loads made with the triggers off, e.g. bench/segments.py)."""
    if vendor != "postgresql":
        return f"UPDATE {LEADS} SET {_set_recount(vendor, f'{LEADS}.id')}"
    maxima = ", ".join(f"max({stamp}) AS {column}" for column, (stamp, _) in ROLLUP.items())
    sets = ", ".join(
        f"{column} = a.{column}" if recount else f"{column} = GREATEST(t.{column}, a.{column})"
        for column, (_, recount) in ROLLUP.items()
    )
    return (
        f"UPDATE {LEADS} t SET {sets} FROM (SELECT r.lead_id, {maxima} FROM {RECIPIENTS} r "
        "WHERE r.lead_id IS NOT NULL GROUP BY r.lead_id) a WHERE t.id = a.lead_id"
    )


def _run(connection, statements):
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install_triggers(connection):
    """(Re)create the triggers; idempotent. On SQLite this runs after every migrate."""
    vendor = connection.vendor
    if vendor in ("postgresql", "sqlite"):
        _run(connection, [*reverse_sql(vendor), *(postgresql_sql() if vendor == "postgresql" else sqlite_sql())])


def uninstall_triggers(connection):
    if connection.vendor in ("postgresql", "sqlite"):
        _run(connection, reverse_sql(connection.vendor))


def install(apps, schema_editor):
    """The migration's step: backfill, then the triggers (PostgreSQL; on SQLite after the
    whole migrate, see campaigns/apps.py)."""
    connection = schema_editor.connection
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    schema_editor.execute(backfill_sql(connection.vendor), params=None)
    if connection.vendor == "postgresql":
        install_triggers(connection)


def uninstall(apps, schema_editor):
    uninstall_triggers(schema_editor.connection)
