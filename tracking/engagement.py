"""The trigger that adds each human open, click and reply to its lead's engagement score, in
the event's own statement (the one-statement hit on PostgreSQL included). The formula is
`campaigns.engagement`'s; its docstring explains the key. Machine events and events of
recipients without a lead change nothing.
"""

import math

from campaigns.engagement import HALF_LIFE_SECONDS, WEIGHTS

EVENTS = "tracking_emailtracking"
LEADS = "campaigns_lead"
RECIPIENTS = "campaigns_campaignrecipient"
NAME = "lead_engagement_on_event"
LN2 = math.log(2)

_TYPES = ", ".join(f"'{t}'" for t in WEIGHTS)
_WEIGHT = "CASE NEW.event_type " + " ".join(f"WHEN '{t}' THEN {w}" for t, w in WEIGHTS.items()) + " END"
_WHEN = f"NOT NEW.is_machine AND NEW.event_type IN ({_TYPES})"


def _new_key(key: str, t: str) -> str:
    # key ← log₂(2^(key − t) + w) + t, with 2^x as exp(x·ln 2); x floored at −700 (exp underflow)
    return f"ln(COALESCE(exp(GREATEST(({key} - {t}) * {LN2}, -700)), 0) + {_WEIGHT}) / {LN2} + {t}"


def postgresql_sql():
    t = f"(extract(epoch from NEW.created_at) / {HALF_LIFE_SECONDS})"
    body = (
        f"BEGIN UPDATE {LEADS} l SET engagement_key = {_new_key('l.engagement_key', t)} "
        f"FROM {RECIPIENTS} r WHERE r.id = NEW.campaign_recipient_id AND l.id = r.lead_id; RETURN NULL; END"
    )
    return [
        f"CREATE OR REPLACE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$",
        f"CREATE TRIGGER {NAME} AFTER INSERT ON {EVENTS} FOR EACH ROW WHEN ({_WHEN}) EXECUTE FUNCTION {NAME}()",
    ]


def sqlite_sql():
    t = f"((julianday(NEW.created_at) - 2440587.5) * 86400.0 / {HALF_LIFE_SECONDS})"
    new_key = _new_key("engagement_key", t).replace("GREATEST(", "max(")
    return [
        f"CREATE TRIGGER {NAME} AFTER INSERT ON {EVENTS} FOR EACH ROW WHEN {_WHEN} BEGIN "
        f"UPDATE {LEADS} SET engagement_key = {new_key} "
        f"WHERE id = (SELECT lead_id FROM {RECIPIENTS} WHERE id = NEW.campaign_recipient_id); END"
    ]


def reverse_sql(vendor):
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {NAME} ON {EVENTS}", f"DROP FUNCTION IF EXISTS {NAME}()"]
    return [f"DROP TRIGGER IF EXISTS {NAME}"]


def backfill_sql(vendor):
    """Keys for the human events recorded before the trigger: log₂ Σ w·2^((t − t₀)/H) + t₀/H,
    t₀ = now (so the powers stay small)."""
    if vendor == "postgresql":
        t = f"(extract(epoch from e.created_at) / {HALF_LIFE_SECONDS})"
        t0 = f"(extract(epoch from now()) / {HALF_LIFE_SECONDS})"
    else:
        t = f"((julianday(e.created_at) - 2440587.5) * 86400.0 / {HALF_LIFE_SECONDS})"
        t0 = f"((julianday('now') - 2440587.5) * 86400.0 / {HALF_LIFE_SECONDS})"
    weight = _WEIGHT.replace("NEW.", "e.")
    greatest = "GREATEST" if vendor == "postgresql" else "max"
    return (
        f"UPDATE {LEADS} SET engagement_key = (SELECT ln(SUM({weight} * exp({greatest}(({t} - {t0}) * {LN2}, -700))))"
        f" / {LN2} + {t0} FROM {EVENTS} e JOIN {RECIPIENTS} r ON r.id = e.campaign_recipient_id"
        f" WHERE r.lead_id = {LEADS}.id AND NOT e.is_machine AND e.event_type IN ({_TYPES}))"
    )


def install_triggers(connection):
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return
    with connection.cursor() as cursor:
        for statement in [*reverse_sql(vendor), *(postgresql_sql() if vendor == "postgresql" else sqlite_sql())]:
            cursor.execute(statement)


def install(apps, schema_editor):
    """The migration's step. On SQLite the trigger is installed after every migrate
    (tracking/apps.py), never in the middle of one: a later migration that rebuilds the
    recipient table would fail on a trigger of another table that names it."""
    schema_editor.execute(backfill_sql(schema_editor.connection.vendor), params=None)
    if schema_editor.connection.vendor != "sqlite":
        install_triggers(schema_editor.connection)


def uninstall_triggers(connection):
    with connection.cursor() as cursor:
        for statement in reverse_sql(connection.vendor):
            cursor.execute(statement)


def uninstall(apps, schema_editor):
    for statement in reverse_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)
