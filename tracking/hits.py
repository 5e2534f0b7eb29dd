"""The pixel and click hits: what a hit records, in one statement on PostgreSQL.

Both the Django views (`tracking/views.py`) and the WSGI shortcut (`tracking/fastpath.py`)
serve the open pixel and the click redirect with the functions here — `hit_of` (what a request
tells), `record_open` (the pixel: never raises) and `click_target` (the link's URL) — so the two
cannot answer differently.

The rules a hit follows are those of `services.event_record` (see its module docstring). They
are written twice, on purpose: `_hit_statement`, one SQL statement for PostgreSQL (the hottest
path there is), and `_hit_orm`, the ORM calls elsewhere. `tests/tracking/test_hit_dialects.py`
runs both on PostgreSQL over the same cases, so they cannot drift apart.

**A dropped database connection loses no hit.** The shortcut skips Django's per-request
connection health check (a query per hit), and the prepared statement below uses the raw
connection, so a connection the server dropped (a restart, a failover, `pg_terminate_backend`)
shows up as an error on the next hit. `hit_record` then closes it and runs the hit once more on
a new connection. A hit is one atomic statement (or one transaction), so the failed attempt
wrote nothing — unless the server committed it and the connection died before the answer
came back, the one case in which a hit would be counted twice; losing a person's open or
answering their click with an error is the worse failure. Only a lost connection is retried
(not, say, SQLite's "database is locked"), and never inside a caller's transaction (the
transaction is lost anyway). A database that stays unreachable fails the retry too: the
pixel still answers its GIF, the click 503.
"""

import functools
import ipaddress
import logging
import time

import psycopg
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections

from campaigns.models import CampaignLink, CampaignRecipient
from fliptech.ids import parse_pk

from . import machine
from .models import EmailTracking
from .services import event_record

log = logging.getLogger(__name__)
EventType = EmailTracking.EventType

# The smallest transparent 1×1 GIF (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
assert len(PIXEL) == 43

PIXEL_HEADERS = {"Cache-Control": "no-store, private"}
# Headers of a click redirect besides Location.
CLICK_HEADERS = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
UNAVAILABLE = "Temporarily unavailable, please try again."

TOKEN_MAX = 64


def client_ip(environ) -> str | None:
    """The client address as the WSGI server saw it (`environ`: the WSGI environ or a
    request's META). Behind a proxy, configure the proxy to set REMOTE_ADDR — e.g.
    gunicorn's --forwarded-allow-ips — rather than trusting a client-supplied
    X-Forwarded-For here."""
    value = environ.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None  # e.g. a unix socket: no address


def hit_of(environ) -> dict:
    """What a pixel or click hit records of its request: user agent, address, method.
    `environ` is the WSGI environ (or a Django request's META)."""
    return {
        "user_agent": environ.get("HTTP_USER_AGENT", ""),
        "ip_address": client_ip(environ),
        "method": environ.get("REQUEST_METHOD", "GET"),
    }


def record_open(token, hit: dict) -> None:
    """Record an open for `token` (`hit` from `hit_of`). Never raises: the pixel is served
    whatever the token and whatever fails behind it, and a failure is logged."""
    try:
        if 0 < len(token) <= TOKEN_MAX:
            hit_record(token=token, event_type=EventType.OPEN, **hit)
    except Exception:  # the pixel must never break a mail client's render
        log.exception("open pixel: could not record an open")


def click_target(token, link_id, hit: dict) -> str | None:
    """Record a click (`hit` from `hit_of`) and return the link's URL, or None for an
    unknown token, a link id that is not an id, or a link not of the token's campaign.
    A DatabaseError (the database still unreachable after `hit_record`'s retry) is logged
    and raised. Stored links are always http(s) (`campaigns.rendering` tracks no other)."""
    link_pk = parse_pk(link_id)
    if link_pk is None or not 0 < len(token) <= TOKEN_MAX:
        return None
    try:
        found, url = hit_record(token=token, event_type=EventType.CLICK, link_id=link_pk, **hit)
    except DatabaseError:
        log.exception("click: database unavailable")
        raise
    return url if found else None


def hit_record(
    *,
    token: str,
    event_type: str,
    link_id: int | None = None,
    user_agent: str = "",
    ip_address: str | None = None,
    method: str = "GET",
) -> tuple[bool, str]:
    """Record a pixel open or a link click by token: (found, link url).

    `found` is False for an unknown token, or for a click whose link is not one of the
    recipient's campaign's links (nothing is recorded then). On PostgreSQL one statement
    (`_hit_statement`), elsewhere a lookup and `event_record` (`_hit_orm`). A dropped
    connection is replaced and the hit run once more (module docstring).
    """
    # The connection of this thread, looked up once: every `django.db.connection.x` is a
    # lookup in a context-local store, and the hit path is counted in microseconds.
    conn = connections[DEFAULT_DB_ALIAS]
    record = _hit_statement if conn.vendor == "postgresql" else _hit_orm
    args = hit_arguments(
        token=token, event_type=event_type, link_id=link_id, user_agent=user_agent, ip_address=ip_address, method=method
    )
    try:
        return record(**args)
    except (OperationalError, InterfaceError):
        if conn.in_atomic_block or not _connection_lost(conn):
            raise
        log.warning("tracking hit: database connection lost; retrying once on a new connection", exc_info=True)
        conn.close()
        return record(**args)


def hit_arguments(*, token, event_type, link_id=None, user_agent="", ip_address=None, method="GET") -> dict:
    """What `_hit_statement` and `_hit_orm` take: the hit, and `machine.verdict` — what the
    machine rules that need no database say (method, user agent, address): True, False, or
    None when only the scanner window, judged with the recipient's `sent_at`, can tell."""
    return {
        "token": token,
        "is_click": event_type == EventType.CLICK,
        "link_id": link_id,
        "user_agent": user_agent or "",
        "ip_address": ip_address or None,
        "verdict": machine.verdict(event_type=event_type, user_agent=user_agent, ip_address=ip_address, method=method),
    }


def _connection_lost(conn) -> bool:
    """After an error: is the connection gone (or never made)? Other errors — SQLite's
    "database is locked" after its 30 s wait, say — are not retried."""
    return conn.connection is None or not conn.is_usable()


_ONLY_WHEN_ASKED = 2**31 - 1

_HIT_SQL = """
WITH m AS (
    SELECT r.id, r.campaign_id, r.sent_at, {link_cols},
           COALESCE(%(verdict)s::boolean, {is_click} AND r.sent_at IS NOT NULL AND now() >= r.sent_at
                    AND now() - r.sent_at < %(window)s * interval '1 second') AS is_machine
    FROM {recipients} r {link_join}
    WHERE r.token = %(token)s
), ins AS (
    INSERT INTO {events} (campaign_recipient_id, campaign_id, event_type, event_data, user_agent,
                          ip_address, url, link_id, is_machine, created_at)
    SELECT id, campaign_id, '{event_type}', '{{}}'::jsonb, %(ua)s, %(ip)s::inet, link_url, link_id,
           is_machine, now()
    FROM m
), upd AS (
    UPDATE {recipients} c SET
        open_count = c.open_count + CASE
            WHEN m.is_machine THEN 0 WHEN NOT {is_click} THEN 1 WHEN c.opened_at IS NULL THEN 1 ELSE 0 END,
        click_count = c.click_count + CASE WHEN {is_click} AND NOT m.is_machine THEN 1 ELSE 0 END,
        machine_open_count = c.machine_open_count + CASE WHEN m.is_machine AND NOT {is_click} THEN 1 ELSE 0 END,
        machine_click_count = c.machine_click_count + CASE WHEN m.is_machine AND {is_click} THEN 1 ELSE 0 END,
        opened_at = CASE WHEN m.is_machine THEN c.opened_at ELSE COALESCE(c.opened_at, now()) END,
        clicked_at = CASE WHEN m.is_machine OR NOT {is_click} THEN c.clicked_at ELSE COALESCE(c.clicked_at, now()) END
    FROM m
    WHERE c.id = m.id AND m.sent_at IS NOT NULL
)
SELECT link_url FROM m
"""


@functools.cache
def _hit_sql(is_click: bool) -> str:
    return _HIT_SQL.format(
        is_click="TRUE" if is_click else "FALSE",
        event_type=EventType.CLICK if is_click else EventType.OPEN,
        link_cols="l.id AS link_id, l.url AS link_url" if is_click else "NULL::bigint AS link_id, ''::text AS link_url",
        link_join=(
            f"JOIN {CampaignLink._meta.db_table} l ON l.campaign_id = r.campaign_id AND l.id = %(link_id)s"
            if is_click
            else ""
        ),
        recipients=CampaignRecipient._meta.db_table,
        events=EmailTracking._meta.db_table,
    )


def _hit_statement(*, token, is_click, link_id, user_agent, ip_address, verdict) -> tuple[bool, str]:
    """PostgreSQL: the hit as ONE statement — lookup, event INSERT and counter UPDATE in
    data-modifying CTEs, atomic on its own.

    Same rules as `event_record`: `opened_at`/`clicked_at` are set once with
    ``COALESCE(opened_at, now())``, which under concurrent updates is evaluated on the
    latest row version (PostgreSQL re-checks a locked row), so it is the same
    compare-and-set; totals are ``+ 1`` in SQL; a machine hit only moves the machine
    counters; a human click with no open seen also counts as an open; a recipient never
    sent gets the event row only; a click `machine.verdict` cannot tell is a machine's
    within the scanner window after sending (rule 5, judged here by the database clock).
    """
    params = {
        "token": token,
        "link_id": link_id,
        "verdict": verdict,
        "window": machine.scanner_window_seconds(),
        "ua": user_agent[:2000],
        "ip": ip_address,
    }
    # A server-side prepared statement: planning this statement costs more than running
    # it, so each connection plans it once. Django's cursors bind on the client and never
    # prepare, and Django turns psycopg's automatic preparing off (prepare_threshold=None,
    # for transaction poolers); a threshold no query reaches keeps it off for everything
    # but this explicit prepare=True. Errors still go through Django's wrapper, so a
    # broken connection is flagged (and `hit_record` replaces it).
    conn = connections[DEFAULT_DB_ALIAS]
    conn.ensure_connection()
    raw = conn.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    started = time.monotonic()
    with conn.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(_hit_sql(is_click), params, prepare=True)
        row = cursor.fetchone()
    if conn.queries_logged:  # DEBUG, or a test counting queries: show it as Django's cursors do
        conn.queries_log.append({"sql": _hit_sql(is_click), "time": f"{time.monotonic() - started:.3f}"})
    return (row is not None, row[0] if row else "")


def _hit_orm(*, token, is_click, link_id, user_agent, ip_address, verdict) -> tuple[bool, str]:
    """Any database: look the recipient (and link) up and call `event_record`, which
    judges the scanner window by the application's clock."""
    recipient = CampaignRecipient.objects.filter(token=token).first()
    if recipient is None:
        return False, ""
    link = None
    if is_click:
        link = CampaignLink.objects.filter(pk=link_id, campaign_id=recipient.campaign_id).first()
        if link is None:
            return False, ""
    event_record(
        recipient=recipient,
        event_type=EventType.CLICK if is_click else EventType.OPEN,
        user_agent=user_agent,
        ip_address=ip_address,
        link=link,
        is_machine=verdict,
    )
    return True, link.url if link else ""
