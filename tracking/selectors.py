"""Stats (endpoint 14) and analytics (endpoint 15), computed by the database.

Each section is one aggregate query (on PostgreSQL hourly opens/clicks and user agents
share one); nothing loops over events in Python. The only Python work is parsing user
agents, and only the distinct ones (at most ``UA_DISTINCT_LIMIT``, the most frequent),
after SQL has grouped the events by agent. Timings per query on a campaign of 1,000,000
events: docs/benchmarks.md.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import Aggregate, Case, Count, DateTimeField, F, FloatField, Func, Max, Min, Q, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import StrIndex, Substr, TruncHour
from django.utils import timezone

from campaigns import states
from campaigns.abtest.results import ab_variants
from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors import campaign_counters, metrics_from_counter_row

from . import geo
from .models import EmailTracking
from .step_stats import step_stats

Status = CampaignRecipient.Status
EventType = EmailTracking.EventType

TOP_N = 10
LIST_N = 20
UA_DISTINCT_LIMIT = 1000
MIN_PACE_WINDOW = timedelta(minutes=1)


_LAST_EVENT_SQL = "SELECT GREATEST({})".format(
    ", ".join(
        f"(SELECT created_at FROM {EmailTracking._meta.db_table} WHERE campaign_id = %(c)s "
        f"AND event_type = '{kind}' ORDER BY created_at DESC LIMIT 1)"
        for kind in EventType.values
    )
)


def last_event_at(*, campaign):
    """The newest event. On PostgreSQL one statement of per-type lookups, each the last
    entry of the (campaign, event_type, created_at) index (a plain MAX would read every
    event of the campaign); elsewhere a MAX."""
    if connection.vendor != "postgresql":
        return EmailTracking.objects.filter(campaign=campaign).order_by().aggregate(last=Max("created_at"))["last"]
    with connection.cursor() as cursor:
        cursor.execute(_LAST_EVENT_SQL, {"c": campaign.pk})
        return cursor.fetchone()[0]


def campaign_stats(*, campaign: Campaign) -> dict:
    """CampaignStatsResponse. Three small queries, whatever the campaign's size: its
    trigger-kept counters (one row), the send window (first/last `sent_at` through the
    (campaign, sent_at) index) and the newest event."""
    now = timezone.now()
    counters = campaign_counters(campaign_ids=[campaign.pk])[campaign.pk]
    # MIN and MAX alone: each is one probe of the (campaign, sent_at) index.
    window = CampaignRecipient.objects.filter(campaign=campaign, sent_at__isnull=False).aggregate(
        first_sent=Min("sent_at"),
        last_sent=Max("sent_at"),
    )
    newest_event_at = last_event_at(campaign=campaign)
    metrics = metrics_from_counter_row(counters)
    total = counters["recipients"]
    sent = metrics["emails_sent"]
    pending, queued = counters["status_pending"], counters["status_queued"]
    remaining = pending + queued
    final = total - remaining

    first, last = window["first_sent"], window["last_sent"]
    running = campaign.status == states.SENDING
    emails_per_hour = 0.0
    if running and first:
        # The pace since the first send (pauses included): what the remaining will take.
        emails_per_hour = sent * 3600 / max(now - first, MIN_PACE_WINDOW).total_seconds()
    elif first:
        emails_per_hour = sent * 3600 / max(last - first, MIN_PACE_WINDOW).total_seconds()
    average_send_time = (last - first).total_seconds() / (sent - 1) if sent > 1 else 0.0

    estimated_completion = None
    if running:
        if remaining == 0:
            estimated_completion = now
        elif emails_per_hour > 0:
            estimated_completion = now + timedelta(hours=remaining / emails_per_hour)
    elif campaign.status == states.COMPLETED:
        estimated_completion = campaign.completed_at

    return {
        "campaign_id": campaign.campaign_id,
        "campaign_name": campaign.name,
        "status": campaign.status,
        "total_recipients": total,
        "pending": pending,
        "queued": queued,
        "sent": sent,
        "failed": metrics["emails_failed"],
        "bounced": metrics["emails_bounced"],
        "opened": metrics["emails_opened"],
        "clicked": metrics["emails_clicked"],
        "replied": metrics["emails_replied"],
        "unsubscribed": metrics["emails_unsubscribed"],
        "complained": metrics["emails_complained"],
        "total_opens": counters["total_opens"],
        "total_clicks": counters["total_clicks"],
        "metrics": metrics,
        "scheduled_at": campaign.scheduled_at,
        "started_at": campaign.started_at,
        "completed_at": campaign.completed_at,
        "estimated_completion": estimated_completion,
        "progress_percentage": round(100.0 * final / total, 2) if total else 0.0,
        "emails_per_hour": round(emails_per_hour, 2),
        "average_send_time_seconds": round(average_send_time, 3),
        "last_event_at": newest_event_at,
        # An A/B test's variants side by side (one grouped query, only for a campaign with a test).
        "variants": ab_variants(campaign),
        "steps": step_stats(campaign=campaign, metrics=metrics),
    }


# --- Analytics -------------------------------------------------------------------------


class Median(Aggregate):
    """PostgreSQL's percentile_cont(0.5): the median of a numeric expression."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


class EpochSeconds(Func):
    """Seconds in a PostgreSQL interval."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    output_field = FloatField()


class HourBin(Func):
    """PostgreSQL's date_bin to the start of the UTC hour (the API's hours are UTC): what
    TruncHour gives with TIME_ZONE = "UTC", without converting every timestamp to a local
    one first (date_trunc that way takes ~30% longer over a million events)."""

    template = "date_bin('1 hour', %(expressions)s, TIMESTAMPTZ 'epoch')"
    output_field = DateTimeField()


def _hour(field):
    return HourBin(field) if connection.vendor == "postgresql" else TruncHour(field)


def _hourly(queryset, field) -> list[dict]:
    rows = queryset.annotate(hour=_hour(field)).order_by().values("hour").annotate(count=Count("id")).order_by("hour")
    return [{"hour": row["hour"], "count": row["count"]} for row in rows]


def _hourly_engagement(events) -> tuple[list, list]:
    """Human opens and clicks per hour, one grouped query for both."""
    rows = (
        events.filter(event_type__in=[EventType.OPEN, EventType.CLICK], is_machine=False)
        .annotate(hour=_hour("created_at"))
        .order_by()
        .values("event_type", "hour")
        .annotate(count=Count("id"))
        .order_by("hour")
    )
    opens, clicks = [], []
    for row in rows:
        (opens if row["event_type"] == EventType.OPEN else clicks).append({"hour": row["hour"], "count": row["count"]})
    return opens, clicks


@lru_cache(maxsize=4096)
def describe_user_agent(user_agent: str) -> tuple[str, str]:
    """(device, email client) of a user agent: device is desktop, mobile, tablet or other."""
    from ua_parser import parse

    if not user_agent:
        return "other", "Unknown"
    result = parse(user_agent)
    client = result.user_agent.family if result.user_agent else "Other"
    ua_lower = user_agent.lower()
    if "googleimageproxy" in ua_lower or "ggpht.com" in ua_lower:
        return "other", "Gmail"
    if "outlook" in ua_lower or "microsoft office" in ua_lower:
        client = "Outlook"
    elif "thunderbird" in ua_lower:
        client = "Thunderbird"
    elif client in ("Mobile Safari UI/WKWebView", "Apple Mail"):
        client = "Apple Mail"
    device_family = (result.device.family if result.device else "") or ""
    os_family = (result.os.family if result.os else "") or ""
    if device_family == "iPad" or "tablet" in ua_lower or (os_family == "Android" and "mobile" not in ua_lower):
        device = "tablet"
    elif os_family in ("iOS", "Android", "Windows Phone", "BlackBerry OS") or "mobile" in ua_lower:
        device = "mobile"
    elif os_family in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora"):
        device = "desktop"
    else:
        device = "other"
    return device, client or "Other"


def _count_list(counter: dict, key: str) -> list[dict]:
    return [{key: k, "count": v} for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _agent_counts(human_opens) -> list[tuple[str, int]]:
    """(user agent, opens) of the most frequent distinct agents, most frequent first."""
    rows = human_opens.order_by().values_list("user_agent").annotate(n=Count("id")).order_by("-n")
    return list(rows[:UA_DISTINCT_LIMIT])


def _by_user_agent(agent_counts) -> tuple[list, list]:
    """Opens by device and by email client: SQL has grouped the opens by agent, Python
    parses the distinct agents."""
    devices, clients = {}, {}
    for user_agent, n in agent_counts:
        device, client = describe_user_agent(user_agent or "")
        devices[device] = devices.get(device, 0) + n
        clients[client] = clients.get(client, 0) + n
    return _count_list(devices, "label"), _count_list(clients, "label")


def _by_location(events, total: int) -> list[dict]:
    """Hits by country (tracking.geo: iptocc offline, or GEOIP_PATH's MaxMind database), from
    the UA_DISTINCT_LIMIT most frequent addresses; hits without an address, or beyond those,
    are "Unknown"."""
    rows = list(events.order_by().values("ip_address").annotate(n=Count("id")).order_by("-n")[:UA_DISTINCT_LIMIT])
    counts = {}
    for row, country in zip(rows, geo.country_codes([r["ip_address"] for r in rows]), strict=True):
        counts[country] = counts.get(country, 0) + row["n"]
    rest = total - sum(counts.values())
    if rest > 0:
        counts[geo.UNKNOWN] = counts.get(geo.UNKNOWN, 0) + rest
    return _count_list(counts, "country")


def _top_recipients(recipients, field) -> list[dict]:
    rows = (
        recipients.filter(**{f"{field}__gt": 0})
        .order_by(f"-{field}", "id")
        .values("id", "email_address", field)[:TOP_N]
    )
    return [{"recipient_id": r["id"], "email_address": r["email_address"], "count": r[field]} for r in rows]


def _reasons(queryset, expression) -> list[dict]:
    rows = (
        queryset.annotate(reason_text=expression)
        .order_by()
        .values("reason_text")
        .annotate(count=Count("id"))
        .order_by("-count", "reason_text")[:LIST_N]
    )
    return [{"reason": r["reason_text"] or "unknown", "count": r["count"]} for r in rows]


def _regrouped(inner, outer_sql: str, params=()) -> list[tuple]:
    """Rows of `outer_sql` over the grouped queryset `inner` (its `{inner}`): a second
    grouping level, which the ORM cannot write."""
    sql, inner_params = inner.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(outer_sql.format(inner=sql), [*inner_params, *params])
        return cursor.fetchall()


_HOURS_AND_AGENTS = """
WITH per_hour_and_agent AS ({inner})
SELECT event_type, hour, NULL, SUM(n) FROM per_hour_and_agent GROUP BY event_type, hour
UNION ALL
(SELECT NULL, NULL, agent, SUM(n) FROM per_hour_and_agent WHERE agent IS NOT NULL
 GROUP BY agent ORDER BY 4 DESC LIMIT %s)
"""


def _hours_and_agents(events) -> tuple[list, list, list]:
    """PostgreSQL: `_hourly_engagement` and `_agent_counts` in one read of the human opens
    and clicks (~60 ms less than two on a million events): grouped by (type, hour, agent of
    an open) first — far fewer groups than events — then summed per hour and per agent."""
    per_hour_and_agent = (
        events.filter(event_type__in=[EventType.OPEN, EventType.CLICK], is_machine=False)
        .annotate(hour=HourBin("created_at"), agent=Case(When(event_type=EventType.OPEN, then=F("user_agent"))))
        .order_by()
        .values("event_type", "hour", "agent")
        .annotate(n=Count("id"))
    )
    rows = _regrouped(per_hour_and_agent, _HOURS_AND_AGENTS, [UA_DISTINCT_LIMIT])
    hourly = sorted((row for row in rows if row[0] is not None), key=lambda row: row[1])
    opens = [{"hour": hour, "count": int(n)} for kind, hour, _, n in hourly if kind == EventType.OPEN]
    clicks = [{"hour": hour, "count": int(n)} for kind, hour, _, n in hourly if kind == EventType.CLICK]
    agents = [(agent, int(n)) for kind, _, agent, n in rows if kind is None]
    return opens, clicks, agents


def _top_links(human_clicks) -> list[dict]:
    """Clicks and unique clickers per URL. Grouped by (URL, recipient) first, then by URL:
    two hash aggregations, where COUNT(DISTINCT) would sort every click."""
    pairs = human_clicks.exclude(url="").order_by().values("url", "campaign_recipient").annotate(n=Count("id"))
    rows = _regrouped(
        pairs,
        "SELECT url, SUM(n), COUNT(*) FROM ({inner}) AS pairs GROUP BY url ORDER BY 2 DESC, url LIMIT %s",
        [LIST_N],
    )
    return [{"url": url, "clicks": int(clicks), "unique_clicks": unique} for url, clicks, unique in rows]


def _domains(recipients) -> list[dict]:
    """Per recipient domain: the part after "@", lower-cased. Grouped by that part as
    written first and lower-cased per group after (LOWER on every address costs more
    than the rest of the query)."""
    as_written = (
        recipients.annotate(written=Substr("email_address", StrIndex("email_address", Value("@")) + 1))
        .order_by()
        .values("written")
        .annotate(
            sent=Count("id", filter=Q(sent_at__isnull=False)),
            bounced=Count("id", filter=Q(bounced_at__isnull=False)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            recipients=Count("id"),
        )
    )
    rows = _regrouped(
        as_written,
        "SELECT LOWER(written), SUM(sent), SUM(bounced), SUM(opened), SUM(clicked), SUM(recipients) "
        "FROM ({inner}) AS domains GROUP BY 1 ORDER BY 2 DESC, 6 DESC, 1 LIMIT %s",
        [LIST_N],
    )
    return [
        {"domain": domain, "sent": int(sent), "bounced": int(bounced), "opened": int(opened), "clicked": int(clicked)}
        for domain, sent, bounced, opened, clicked, _recipients in rows
    ]


_SQLITE_MEDIANS = """
WITH o AS (
    SELECT (julianday({col}) - julianday(sent_at)) * 86400.0 AS v
    FROM {table} WHERE campaign_id = %s AND sent_at IS NOT NULL AND {col} IS NOT NULL
)
SELECT AVG(v) FROM (
    SELECT v FROM o ORDER BY v
    LIMIT 2 - (SELECT COUNT(*) FROM o) %% 2
    OFFSET ((SELECT COUNT(*) FROM o) - 1) / 2
)
"""


def _engagement(campaign) -> dict:
    """Median seconds from sent_at to the first human open / click: percentile_cont on
    PostgreSQL (one query), ORDER BY/LIMIT/OFFSET elsewhere (one query per median)."""
    recipients = CampaignRecipient.objects.filter(campaign=campaign, sent_at__isnull=False)
    if connection.vendor == "postgresql":
        agg = recipients.aggregate(
            open=Median(EpochSeconds(F("opened_at") - F("sent_at")), filter=Q(opened_at__isnull=False)),
            click=Median(EpochSeconds(F("clicked_at") - F("sent_at")), filter=Q(clicked_at__isnull=False)),
        )
        values = [agg["open"], agg["click"]]
    else:
        table = CampaignRecipient._meta.db_table
        values = []
        with connection.cursor() as cursor:
            for col in ("opened_at", "clicked_at"):
                cursor.execute(_SQLITE_MEDIANS.format(col=col, table=table), [campaign.pk])
                values.append(cursor.fetchone()[0])
    return {
        "median_seconds_to_open": round(values[0], 3) if values[0] is not None else None,
        "median_seconds_to_click": round(values[1], 3) if values[1] is not None else None,
    }


# For the analytics transactions on PostgreSQL: hash aggregations in memory (the planner
# overestimates the groups of an hour expression a hundredfold and would sort a million
# events on disk otherwise), and no JIT compilation (it costs more than it saves here).
_ANALYTICS_SETTINGS = "SELECT set_config('work_mem', '32MB', true), set_config('jit', 'off', true)"


@contextmanager
def _analytics_transaction():
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_ANALYTICS_SETTINGS)
        yield


def _on_own_connection(fn, *args):
    """fn(*args) in a worker thread: Django gives the thread a connection of its own, closed
    here when done."""
    try:
        with _analytics_transaction():
            return fn(*args)
    finally:
        connection.close()


def campaign_analytics(*, campaign: Campaign) -> dict:
    """CampaignAnalyticsResponse: stats plus one aggregate query per section.

    On PostgreSQL the two sections that read every human open and click of the campaign
    (`_full_event_scans`) run on a second connection while this one computes the others:
    both are mostly single-core work, so on two cores the answer comes in roughly the time
    of the longer half. Not inside a caller's transaction: the second connection would not
    see its uncommitted rows (and tests run inside one), so then everything runs here, in
    order. Each query reads its own snapshot either way, as in autocommit.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with _analytics_transaction():
            return _analytics(campaign, lambda: _full_event_scans(campaign))
    with ThreadPoolExecutor(max_workers=1) as pool:
        scans = pool.submit(_on_own_connection, _full_event_scans, campaign)
        with _analytics_transaction():
            return _analytics(campaign, scans.result)


def _full_event_scans(campaign) -> dict:
    """Hourly human opens and clicks, opens by device and client (one query on PostgreSQL),
    and opens and clicks by country: they read every human open and click of the campaign."""
    events = EmailTracking.objects.filter(campaign=campaign)
    if connection.vendor == "postgresql":
        hourly_opens, hourly_clicks, agents = _hours_and_agents(events)
    else:
        hourly_opens, hourly_clicks = _hourly_engagement(events)
        agents = _agent_counts(events.filter(event_type=EventType.OPEN, is_machine=False))
    by_device, by_client = _by_user_agent(agents)
    human = events.filter(is_machine=False)
    return {
        "hourly_opens": hourly_opens,
        "hourly_clicks": hourly_clicks,
        "opens_by_device": by_device,
        "opens_by_email_client": by_client,
        # Also scans of every human open and click: on the second connection too.
        "opens_by_location": _by_location(
            human.filter(event_type=EventType.OPEN), sum(h["count"] for h in hourly_opens)
        ),
        "clicks_by_location": _by_location(
            human.filter(event_type=EventType.CLICK), sum(h["count"] for h in hourly_clicks)
        ),
    }


def _analytics(campaign, full_event_scans) -> dict:
    """Every section but `_full_event_scans`, whose result `full_event_scans()` gives (asked
    for last, so that a second connection computes it meanwhile)."""
    events = EmailTracking.objects.filter(campaign=campaign)
    human_clicks = events.filter(event_type=EventType.CLICK, is_machine=False)
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    sections = {
        "campaign": {
            "id": campaign.pk,
            "campaign_id": campaign.campaign_id,
            "name": campaign.name,
            "status": campaign.status,
        },
        "stats": campaign_stats(campaign=campaign),
        "hourly_sends": _hourly(recipients.filter(sent_at__isnull=False), "sent_at"),
        "top_openers": _top_recipients(recipients, "open_count"),
        "top_clickers": _top_recipients(recipients, "click_count"),
        "bounce_reasons": _reasons(
            events.filter(event_type=EventType.BOUNCE), KeyTextTransform("reason", "event_data")
        ),
        "error_messages": _reasons(recipients.filter(status=Status.FAILED), F("error_message")),
        "top_links": _top_links(human_clicks),
        "domains": _domains(recipients),
        "engagement": _engagement(campaign),
    }
    sections.update(full_event_scans())
    return sections
