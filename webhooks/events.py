"""Which event becomes which webhook, and the triggers that queue the deliveries.

A delivery row is written by a database trigger in the same transaction — the same
statement, in fact — as the change it reports, whichever code path made it (the one-statement
tracking hit, the ORM, the sender's raw marks, a provider webhook, a raw UPDATE):

| webhook | written when |
|---|---|
| `message.opened`, `.clicked`, `.replied`, `.bounced`, `.unsubscribed`, `.complained` | an event row of that type is inserted (`tracking_emailtracking`), people only: a machine open or click (`is_machine`) queues nothing |
| `message.sent` | a recipient's status becomes `sent` (the server accepted the message) |
| `campaign.status_changed` | a campaign's status changes (`extra`: `status`, `previous_status`) |

So an event is never lost (it and its deliveries commit or roll back together) and a
receiver never slows the path that recorded it: the trigger only inserts one row per
subscribed, active endpoint (an indexed insert, a few microseconds each; nothing at all for
a machine hit, whose trigger's WHEN clause is false), and workers send them later
(`webhooks.delivery`). One event to several endpoints shares one `event_id`.

PostgreSQL: row-level plpgsql triggers (the event id is computed once per event, in a
variable). SQLite: the same as SQL triggers (an uncorrelated scalar subquery runs once per
statement, so the event id is shared too). `install_triggers` (re)creates them; migration
0001 calls it, and on SQLite every `migrate` does again (`WebhooksConfig.ready`).
"""

from .models import EventType

EVENTS = "tracking_emailtracking"
RECIPIENTS = "campaigns_campaignrecipient"
CAMPAIGNS = "campaigns_campaign"
ENDPOINTS = "webhooks_webhookendpoint"
DELIVERIES = "webhooks_webhookdelivery"

# Tracking event type → the webhook it queues. `forward`, `delivered`, `auto_reply` … queue none.
TRACKING_EVENTS = {
    "open": EventType.MESSAGE_OPENED,
    "click": EventType.MESSAGE_CLICKED,
    "reply": EventType.MESSAGE_REPLIED,
    "bounce": EventType.MESSAGE_BOUNCED,
    "unsubscribe": EventType.MESSAGE_UNSUBSCRIBED,
    "complain": EventType.MESSAGE_COMPLAINED,
}

_COLUMNS = (
    "endpoint_id, event_id, type, campaign_id, recipient_id, url, extra, status, attempts, next_attempt_at,"
    " last_error, created_at"
)
_TRACKED = ", ".join(f"'{t}'" for t in TRACKING_EVENTS)


def _kind_case(column):
    whens = " ".join(f"WHEN '{t}' THEN '{w.value}'" for t, w in TRACKING_EVENTS.items())
    return f"CASE {column} {whens} END"


# (trigger name, table, timing clause, WHEN condition, kind, campaign, recipient, url, extra)
def _triggers(json_object):
    return [
        (
            "webhooks_on_event",
            EVENTS,
            "AFTER INSERT",
            f"NOT NEW.is_machine AND NEW.event_type IN ({_TRACKED})",
            _kind_case("NEW.event_type"),
            "NEW.campaign_id",
            "NEW.campaign_recipient_id",
            "NEW.url",
            "'{}'",
        ),
        (
            "webhooks_on_sent",
            RECIPIENTS,
            "AFTER UPDATE OF status",
            "NEW.status = 'sent' AND OLD.status <> 'sent'",
            f"'{EventType.MESSAGE_SENT.value}'",
            "NEW.campaign_id",
            "NEW.id",
            "''",
            "'{}'",
        ),
        (
            "webhooks_on_status",
            CAMPAIGNS,
            "AFTER UPDATE OF status",
            "NEW.status <> OLD.status",
            f"'{EventType.CAMPAIGN_STATUS_CHANGED.value}'",
            "NEW.id",
            "NULL",
            "''",
            json_object("'status', NEW.status, 'previous_status', OLD.status"),
        ),
    ]


def postgresql_sql():
    statements = []
    for name, table, timing, when, kind, campaign, recipient, url, extra in _triggers(
        lambda args: f"jsonb_build_object({args})"
    ):
        body = (
            "DECLARE kind text := " + kind + "; eid text := 'evt_' || replace(gen_random_uuid()::text, '-', ''); "
            f"BEGIN INSERT INTO {DELIVERIES} ({_COLUMNS}) "
            f"SELECT e.id, eid, kind, {campaign}, {recipient}, {url}, {extra}::jsonb, 'pending', 0, now(), '', now() "
            f"FROM {ENDPOINTS} e WHERE e.active AND e.events ? kind; RETURN NULL; END"
        )
        statements.append(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$")
        statements.append(
            f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}()"
        )
    return statements


def postgresql_reverse_sql():
    return [f"DROP TRIGGER IF EXISTS {t[0]} ON {t[1]}" for t in _triggers(str)] + [
        f"DROP FUNCTION IF EXISTS {t[0]}()" for t in _triggers(str)
    ]


_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"


def sqlite_sql():
    statements = []
    for name, table, timing, when, kind, campaign, recipient, url, extra in _triggers(
        lambda args: f"json_object({args})"
    ):
        statements.append(
            f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW WHEN {when} BEGIN "
            f"INSERT INTO {DELIVERIES} ({_COLUMNS}) "
            f"SELECT e.id, (SELECT 'evt_' || lower(hex(randomblob(16)))), {kind}, {campaign}, {recipient}, {url}, "
            f"{extra}, 'pending', 0, {_SQLITE_NOW}, '', {_SQLITE_NOW} FROM {ENDPOINTS} e "
            f"WHERE e.active AND EXISTS (SELECT 1 FROM json_each(e.events) j WHERE j.value = {kind}); END"
        )
    return statements


def sqlite_reverse_sql():
    return [f"DROP TRIGGER IF EXISTS {t[0]}" for t in _triggers(str)]


def install_triggers(connection):
    """(Re)create the triggers; idempotent. Call inside a transaction."""
    sql = {
        "postgresql": (postgresql_reverse_sql()[:3], postgresql_sql()),
        "sqlite": (sqlite_reverse_sql(), sqlite_sql()),
    }.get(connection.vendor)
    if sql is None:
        return
    drop, create = sql
    with connection.cursor() as cursor:
        for statement in [*drop, *create]:
            cursor.execute(statement)


def install(apps, schema_editor):
    """The migration's step; on SQLite the triggers are installed after every migrate
    (webhooks/apps.py), never in the middle of one (see tracking.engagement.install)."""
    if schema_editor.connection.vendor != "sqlite":
        install_triggers(schema_editor.connection)


def uninstall_triggers(connection):
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for statement in sqlite_reverse_sql():
                cursor.execute(statement)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": postgresql_reverse_sql, "sqlite": sqlite_reverse_sql}.get(vendor, list)():
        schema_editor.execute(statement, params=None)
