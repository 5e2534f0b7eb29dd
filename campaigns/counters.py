"""The triggers that keep `CampaignCounters` equal to aggregates over the recipient table.

Each counter is the SUM over a campaign's recipient rows of one SQL expression below, and a
campaign's counters are the SUM over its counter rows (shards). On PostgreSQL three
statement-level triggers (insert, update, delete) aggregate the statement's transition
tables by campaign and apply the difference with one upsert per campaign and statement, into
a shard picked at random, so a 100,000-row INSERT … SELECT costs one counter write, two
concurrent tracking hits almost never wait for each other's commit on the same counter row,
and a counter row is locked only after the statement has locked its recipient rows (no
lock-order inversion with single-row updates). On SQLite, row-level triggers do the same
into shard 0 (one writer at a time there).

A delete only adjusts an existing counter row (the campaign's lowest shard), never creates
one: when Django deletes a campaign it may delete the counter rows before the recipients.

`COUNTERS` below is the one list of counters: the `CampaignCounters` model gets a column per
entry (campaigns/models/campaign.py), the triggers here sum its expressions, `campaigns.selectors`
reads the columns (and recounts them from the recipient rows with the same expressions), and
`METRIC_COLUMNS` says which of them the API's CampaignMetrics shows. A new counter is one
line in `COUNTERS` plus a migration (the model's new column, and `install_triggers` again).
"""

RECIPIENT_TABLE = "campaigns_campaignrecipient"
COUNTER_TABLE = "campaigns_campaigncounters"
SHARDS = 16  # counter rows per campaign at most (PostgreSQL)


def _flag(condition):
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


# counter column → expression over one recipient row aliased `r`.
COUNTERS = {
    "recipients": "1",
    **{
        f"status_{s}": _flag(f"r.status = '{s}'")
        for s in ("pending", "queued", "sent", "failed", "bounced", "unsubscribed")
    },
    # Accepted by the mail server: a row in flight (queued, started) does not count yet.
    "emails_sent": _flag("r.sent_at IS NOT NULL AND r.status <> 'queued'"),
    "emails_opened": _flag("r.opened_at IS NOT NULL"),
    "emails_clicked": _flag("r.clicked_at IS NOT NULL"),
    "emails_replied": _flag("r.replied_at IS NOT NULL"),
    "emails_bounced": _flag("r.bounced_at IS NOT NULL"),
    "emails_unsubscribed": _flag("r.unsubscribed_at IS NOT NULL"),
    "emails_complained": _flag("r.complained_at IS NOT NULL"),
    "machine_opens": "r.machine_open_count",
    "machine_clicks": "r.machine_click_count",
    "total_opens": "r.open_count",
    "total_clicks": "r.click_count",
}

# CampaignMetrics' counters (the API's names) → the counter column each one shows.
METRIC_COLUMNS = {
    **{column: column for column in COUNTERS if column.startswith(("emails_", "machine_"))},
    "emails_failed": "status_failed",
}


def row_expression(column: str, alias: str) -> str:
    """The SQL of counter `column` over one recipient row named `alias` (a table alias, the
    table's name, or a trigger's NEW/OLD)."""
    return COUNTERS[column].replace("r.", alias + ".")


_COLUMNS = ", ".join(COUNTERS)
_ADD_EXCLUDED = ", ".join(f"{c} = {COUNTER_TABLE}.{c} + EXCLUDED.{c}" for c in COUNTERS)


def _expr(alias, sign=""):
    return ", ".join(f"{sign}({row_expression(c, alias)}) AS {c}" for c in COUNTERS)


def _sums():
    return ", ".join(f"SUM({c})" for c in COUNTERS)


def _nonzero():
    return " OR ".join(f"SUM({c}) <> 0" for c in COUNTERS)


def _pg_upsert(source):
    return (
        f"INSERT INTO {COUNTER_TABLE} (campaign_id, shard, {_COLUMNS}) "
        f"SELECT campaign_id, floor(random() * {SHARDS})::int, {_sums()} FROM ({source}) d "
        f"GROUP BY campaign_id HAVING {_nonzero()} "
        f"ON CONFLICT (campaign_id, shard) DO UPDATE SET {_ADD_EXCLUDED}"
    )


def _lowest_shard(campaign):
    return f"(SELECT MIN(s.shard) FROM {COUNTER_TABLE} s WHERE s.campaign_id = {campaign})"


def _pg_function(name, body):
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
    )


def postgresql_sql():
    inserted = f"SELECT n.campaign_id, {_expr('n')} FROM new_rows n"
    deleted = f"SELECT o.campaign_id, {_expr('o', '-')} FROM old_rows o"
    delete_body = (
        f"UPDATE {COUNTER_TABLE} AS c SET "
        + ", ".join(f"{col} = c.{col} + d.{col}" for col in COUNTERS)
        + " FROM (SELECT campaign_id, "
        + ", ".join(f"SUM({col}) AS {col}" for col in COUNTERS)
        + f" FROM ({deleted}) x GROUP BY campaign_id) d "
        + f"WHERE c.campaign_id = d.campaign_id AND c.shard = {_lowest_shard('d.campaign_id')}"
    )
    statements = [
        _pg_function("recipient_counters_ins", _pg_upsert(inserted)),
        _pg_function("recipient_counters_upd", _pg_upsert(f"{inserted} UNION ALL {deleted}")),
        _pg_function("recipient_counters_del", delete_body),
    ]
    for op, refs in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        fn = {"INSERT": "ins", "UPDATE": "upd", "DELETE": "del"}[op]
        statements.append(
            f"CREATE TRIGGER recipient_counters_{fn} AFTER {op} ON {RECIPIENT_TABLE} "
            f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION recipient_counters_{fn}()"
        )
    return statements


def postgresql_reverse_sql():
    return [f"DROP TRIGGER IF EXISTS recipient_counters_{fn} ON {RECIPIENT_TABLE}" for fn in ("ins", "upd", "del")] + [
        f"DROP FUNCTION IF EXISTS recipient_counters_{fn}()" for fn in ("ins", "upd", "del")
    ]


def _sqlite_values(new=None, old=None):
    parts = []
    for column in COUNTERS:
        terms = []
        if new:
            terms.append(f"({row_expression(column, new)})")
        if old:
            terms.append(f"-({row_expression(column, old)})")
        parts.append(" ".join(terms) if len(terms) == 1 else f"{terms[0]} {terms[1]}")
    return parts


def sqlite_sql():
    def upsert(values, campaign):
        return (
            f"INSERT INTO {COUNTER_TABLE} (campaign_id, shard, {_COLUMNS}) VALUES ({campaign}, 0, {', '.join(values)}) "
            f"ON CONFLICT (campaign_id, shard) DO UPDATE SET {_ADD_EXCLUDED};"
        )

    update_values = _sqlite_values("NEW", "OLD")
    changed = " OR ".join(f"({v}) <> 0" for v in update_values)
    delete_set = ", ".join(f"{col} = {col} - ({row_expression(col, 'OLD')})" for col in COUNTERS)
    return [
        f"CREATE TRIGGER recipient_counters_ins AFTER INSERT ON {RECIPIENT_TABLE} FOR EACH ROW BEGIN "
        f"{upsert(_sqlite_values('NEW'), 'NEW.campaign_id')} END",
        f"CREATE TRIGGER recipient_counters_upd AFTER UPDATE ON {RECIPIENT_TABLE} FOR EACH ROW "
        f"WHEN {changed} BEGIN {upsert(update_values, 'NEW.campaign_id')} END",
        f"CREATE TRIGGER recipient_counters_del AFTER DELETE ON {RECIPIENT_TABLE} FOR EACH ROW BEGIN "
        f"UPDATE {COUNTER_TABLE} SET {delete_set} "
        f"WHERE campaign_id = OLD.campaign_id AND shard = {_lowest_shard('OLD.campaign_id')}; END",
    ]


def sqlite_reverse_sql():
    return [f"DROP TRIGGER IF EXISTS recipient_counters_{fn}" for fn in ("ins", "upd", "del")]


def backfill_sql():
    """Counters for recipients that existed before the triggers."""
    return (
        f"INSERT INTO {COUNTER_TABLE} (campaign_id, shard, {_COLUMNS}) "
        f"SELECT r.campaign_id, 0, {', '.join(f'SUM({e})' for e in COUNTERS.values())} "
        f"FROM {RECIPIENT_TABLE} r GROUP BY r.campaign_id"
    )


def install(schema_editor):
    """Backfill the counters, then create the triggers (migration 0007)."""
    schema_editor.execute(backfill_sql(), params=None)
    install_triggers(schema_editor.connection)


def install_triggers(connection):
    """(Re)create the triggers; idempotent. Call inside a transaction, so no write slips
    between the drop and the create. SQLite drops a table's triggers whenever a migration
    rebuilds the table (most AlterField operations do), so there this runs after every
    `migrate` too (see CampaignsConfig.ready)."""
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return
    drop = {"postgresql": postgresql_reverse_sql, "sqlite": sqlite_reverse_sql}[vendor]()[:3]
    create = {"postgresql": postgresql_sql, "sqlite": sqlite_sql}[vendor]()
    with connection.cursor() as cursor:
        for statement in [*drop, *create]:
            cursor.execute(statement)


def uninstall(schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": postgresql_reverse_sql, "sqlite": sqlite_reverse_sql}[vendor]():
        schema_editor.execute(statement, params=None)
