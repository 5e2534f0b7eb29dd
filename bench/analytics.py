"""Stats (endpoint 14) and analytics (endpoint 15) on a big campaign.

    .venv/bin/python bench/analytics.py [--recipients 100000] [--events 1000000] [--runs 20]

On PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/): creates a
scratch database `bench_analytics`, migrates it, bulk-generates one campaign with
`--recipients` recipients and `--events` tracking events with SQL `generate_series`
(realistic mixes of statuses, domains, user agents, machine hits, links, bounce reasons),
ANALYZEs, then times `campaign_stats` and `campaign_analytics` (the selectors behind the
two endpoints, and the endpoints themselves through the API) `--runs` times each and
prints p50/p95 beside the floor measured in the same run: one bare COUNT(*) over the
campaign's recipients and one over its events. Then it runs `campaign_analytics` `--runs`
times more inside a transaction, where it runs every section on that one connection one
after another, and prints the p50/p95 of each SQL statement (the start of the statement
names the section). Targets: stats p95 < 50 ms, analytics p95 < 500 ms, the admin's live
numbers (`live.json`, polled by the campaign page) p95 < 50 ms beside a logged-in admin
request that reads nothing (`jsi18n`). The
database is dropped at the end.

`--vacuum` runs VACUUM ANALYZE after generating (the state autovacuum leaves a table in;
the bench server runs with autovacuum off). Without it the tables are only ANALYZEd.
"""

import argparse
import math
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_analytics"


def base_url():
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    return re.sub(r"/[^/]*$", "", url)


def admin_sql(sql):
    import psycopg

    with psycopg.connect(f"{base_url()}/postgres", autocommit=True) as conn:
        conn.execute(sql)


GENERATE = """
INSERT INTO campaigns_campaignrecipient (
    campaign_id, email_address, first_name, last_name, status, token, message_id, attempts,
    sent_at, delivered_at, opened_at, clicked_at, replied_at, bounced_at, unsubscribed_at,
    complained_at, error_message, open_count, click_count, machine_open_count,
    machine_click_count, created_at, updated_at, provider_message_id, sequence_status, stop_reason)
SELECT %(campaign)s,
       'r' || i || '@' || (ARRAY['gmail.com','yahoo.com','outlook.com','hotmail.com','icloud.com',
                                 'corp.example','fliptech.example','aol.com'])[i %% 8 + 1],
       'First' || i, 'Last', s.status, md5('tok' || i) || substr(md5('x' || i), 1, 8), '<' || i || '@bench>', 1,
       CASE WHEN s.status IN ('sent','bounced','unsubscribed') THEN s.sent END,
       CASE WHEN s.status IN ('sent','unsubscribed') THEN s.sent + interval '5 seconds' END,
       CASE WHEN s.status IN ('sent','unsubscribed') AND i %% 5 < 2 THEN s.sent + (i %% 7200) * interval '1 second' END,
       CASE WHEN s.status IN ('sent','unsubscribed') AND i %% 10 = 0 THEN s.sent + (i %% 9000 + 60) * interval '1 second' END,
       CASE WHEN s.status = 'sent' AND i %% 100 = 0 THEN s.sent + interval '1 day' END,
       CASE WHEN s.status = 'bounced' THEN s.sent + interval '30 seconds' END,
       CASE WHEN s.status = 'unsubscribed' THEN s.sent + interval '2 hours' END,
       CASE WHEN s.status = 'sent' AND i %% 1000 = 1 THEN s.sent + interval '3 hours' END,
       CASE WHEN s.status = 'failed' THEN (ARRAY['550 mailbox unavailable','suppressed: hard_bounce',
                                               '554 rejected by policy'])[i %% 3 + 1] ELSE '' END,
       CASE WHEN s.status IN ('sent','unsubscribed') AND i %% 5 < 2 THEN 1 + i %% 4 ELSE 0 END,
       CASE WHEN s.status IN ('sent','unsubscribed') AND i %% 10 = 0 THEN 1 + i %% 3 ELSE 0 END,
       CASE WHEN i %% 3 = 0 THEN 1 ELSE 0 END, CASE WHEN i %% 20 = 0 THEN 1 ELSE 0 END,
       now() - interval '3 days', now(), '', 'finished', ''
FROM generate_series(1, %(n)s) AS i
CROSS JOIN LATERAL (SELECT
    CASE WHEN i %% 100 < 85 THEN 'sent' WHEN i %% 100 < 90 THEN 'bounced' WHEN i %% 100 < 93 THEN 'failed'
         WHEN i %% 100 < 95 THEN 'unsubscribed' WHEN i %% 100 < 98 THEN 'pending' ELSE 'queued' END AS status,
    now() - interval '2 days' + i * interval '1 second' AS sent) AS s;

INSERT INTO campaigns_campaignlink (campaign_id, url, url_hash, created_at)
SELECT %(campaign)s, 'https://fliptech.example/page/' || j, md5('https://fliptech.example/page/' || j), now()
FROM generate_series(1, 12) AS j;

INSERT INTO tracking_emailtracking (
    campaign_recipient_id, campaign_id, event_type, event_data, user_agent, ip_address, url,
    link_id, is_machine, provider_event_id, created_at)
SELECT r.first_id + (i::bigint * 7919) %% %(n)s, %(campaign)s, e.kind,
       CASE WHEN e.kind = 'bounce' THEN jsonb_build_object('bounce_type', 'hard', 'reason',
            (ARRAY['550 5.1.1 user unknown','552 mailbox full','554 spam detected','550 no such domain'])[i %% 4 + 1])
            ELSE '{}'::jsonb END,
       (ARRAY[
         'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
         'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
         'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)',
         'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)',
         'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
         'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36',
         'Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
         'Mozilla/5.0'])[i %% 8 + 1] || CASE WHEN i %% 50 = 0 THEN ' v' || (i %% 400) ELSE '' END,
       ('10.' || (i %% 250) || '.' || (i %% 200) || '.1')::inet,
       CASE WHEN e.kind = 'click' THEN 'https://fliptech.example/page/' || (i %% 12 + 1) ELSE '' END,
       CASE WHEN e.kind = 'click' THEN l.first_link + i %% 12 END,
       i %% 10 = 0, NULL,
       now() - interval '2 days' + (i %% 172800) * interval '1 second'
FROM generate_series(1, %(events)s) AS i
CROSS JOIN (SELECT min(id) AS first_id FROM campaigns_campaignrecipient WHERE campaign_id = %(campaign)s) AS r
CROSS JOIN (SELECT min(id) AS first_link FROM campaigns_campaignlink WHERE campaign_id = %(campaign)s) AS l
CROSS JOIN LATERAL (SELECT CASE WHEN i %% 100 < 70 THEN 'open' WHEN i %% 100 < 90 THEN 'click'
                                WHEN i %% 100 < 93 THEN 'bounce' ELSE 'delivered' END AS kind) AS e;

UPDATE campaigns_campaign SET total_recipients = %(n)s WHERE id = %(campaign)s;
"""


def p50_p95(samples):
    samples = sorted(samples)
    return {"p50": statistics.median(samples), "p95": samples[max(0, math.ceil(0.95 * len(samples)) - 1)]}


def timed(fn, runs):
    fn()  # warm
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return p50_p95(samples)


def per_statement(fn, connection, runs):
    """{statement: p50/p95 ms} over `runs` calls of fn (after a warm-up) on this connection,
    in the order issued; savepoints left out."""
    fn()
    times = {}

    def wrapper(execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
                times.setdefault(sql, []).append((time.perf_counter() - t0) * 1000)

    with connection.execute_wrapper(wrapper):
        for _ in range(runs):
            fn()
    return {sql: p50_p95(samples) for sql, samples in times.items()}


def short(sql, width=100):
    """The start of a statement, without quoted identifiers' table prefixes."""
    sql = re.sub(r'"\w+"\.', "", sql).replace('"', "").strip()
    return re.sub(r"\s+", " ", sql)[:width]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipients", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE after generating (else ANALYZE)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()

    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin_sql(f"CREATE DATABASE {DB_NAME}")
    os.environ.update(DATABASE_URL=f"{base_url()}/{DB_NAME}", DJANGO_SETTINGS_MODULE="fliptech.settings")
    os.environ.setdefault("FLIPTECH_VAR_DIR", tempfile.mkdtemp(prefix="bench_analytics_"))
    os.environ.setdefault("DEBUG", "1")  # a development run: the settings default to DEBUG off
    os.environ.pop("DATABASE_TEST_NAME", None)
    # bench/ holds a tracking.py of its own: keep it off the path, the project root on it.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        import django

        django.setup()
        from django.core.cache import cache
        from django.core.management import call_command
        from django.db import connection, transaction
        from django.test import Client, override_settings
        from django.utils import timezone

        from campaigns.models import Campaign, EmailTemplate
        from tests.factories import UserFactory
        from tracking.selectors import campaign_analytics, campaign_stats

        call_command("migrate", verbosity=0)
        template = EmailTemplate.objects.create(name="bench", subject="s", body_html="<p>x</p>")
        campaign = Campaign.objects.create(
            name="bench",
            template=template,
            status=Campaign.Status.RUNNING,
            started_at=timezone.now() - timedelta(days=2),
        )
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(GENERATE, {"campaign": campaign.pk, "n": args.recipients, "events": args.events})
            verb = "VACUUM ANALYZE" if args.vacuum else "ANALYZE"
            cursor.execute(f"{verb} campaigns_campaignrecipient")
            cursor.execute(f"{verb} tracking_emailtracking")
            cursor.execute("SELECT count(*) FROM tracking_emailtracking WHERE campaign_id = %s", [campaign.pk])
            n_events = cursor.fetchone()[0]
        print(
            f"generated {args.recipients} recipients and {n_events} events in {time.perf_counter() - t0:.1f} s; "
            f"({'VACUUM ANALYZE' if args.vacuum else 'ANALYZE'}); "
            f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; PostgreSQL"
        )

        def floor(sql):
            def run():
                with connection.cursor() as cursor:
                    cursor.execute(sql, [campaign.pk])
                    cursor.fetchall()

            return run

        user = UserFactory(username="bench")
        client = Client()
        client.force_login(user)

        def get(path, cached):
            def run():
                seconds = {} if cached else {"TRACKING_ANALYTICS_CACHE_SECONDS": 0}
                with override_settings(**seconds):
                    if not cached:
                        cache.clear()
                    assert client.get(path, SERVER_NAME="127.0.0.1").status_code == 200

            return run

        staff = UserFactory(username="bench-admin", is_staff=True, is_superuser=True)
        admin_client = Client()
        admin_client.force_login(staff)

        def admin_get(path):
            def run():
                assert admin_client.get(path, SERVER_NAME="127.0.0.1").status_code == 200

            return run

        stats_path = f"/api/v1/campaigns/{campaign.pk}/stats"
        analytics_path = f"/api/v1/campaigns/{campaign.pk}/analytics"
        results = {
            "floor: COUNT(*) of its recipients": timed(
                floor("SELECT count(*) FROM campaigns_campaignrecipient WHERE campaign_id = %s"), args.runs
            ),
            "floor: COUNT(*) of its events": timed(
                floor("SELECT count(*) FROM tracking_emailtracking WHERE campaign_id = %s"), args.runs
            ),
            "campaign_stats (selector)": timed(lambda: campaign_stats(campaign=campaign), args.runs),
            "GET stats (live, never cached)": timed(get(stats_path, cached=False), args.runs),
            "campaign_analytics (selector)": timed(lambda: campaign_analytics(campaign=campaign), args.runs),
            "GET analytics, computed": timed(get(analytics_path, cached=False), args.runs),
            "GET analytics, unchanged campaign": timed(get(analytics_path, cached=True), args.runs),
            "floor: GET admin jsi18n (logged in)": timed(admin_get("/admin/jsi18n/"), args.runs),
            "GET admin live.json (page poll)": timed(
                admin_get(f"/admin/campaigns/campaign/{campaign.pk}/live.json"), args.runs
            ),
        }
        response = client.get(f"/api/v1/campaigns/{campaign.pk}/analytics", SERVER_NAME="127.0.0.1")
        assert response.status_code == 200, response.content[:500]

        def analytics_in_transaction():
            with transaction.atomic():
                campaign_analytics(campaign=campaign)

        statements = per_statement(analytics_in_transaction, connection, args.runs)
        for name, r in results.items():
            print(f"{name:<36} p50 {r['p50']:8.1f} ms   p95 {r['p95']:8.1f} ms")
        print(
            f"per statement of campaign_analytics in a transaction (one connection, one section after "
            f"another), {args.runs} more runs (load {os.getloadavg()[0]:.2f}):"
        )
        for sql, r in statements.items():
            print(f"  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  {short(sql)}")
        stats = results["GET stats (live, never cached)"]["p95"]
        print(f"stats: p95 {stats:.1f} ms (target < 50) → {'PASS' if stats < 50 else 'MISS'}")
        live = results["GET admin live.json (page poll)"]["p95"]
        print(f"admin live.json: p95 {live:.1f} ms (target < 50) → {'PASS' if live < 50 else 'MISS'}")
        cold = results["GET analytics, computed"]["p95"]
        warm = results["GET analytics, unchanged campaign"]["p95"]
        print(
            f"analytics: computed p95 {cold:.1f} ms, unchanged-campaign p95 {warm:.1f} ms (target < 500) → "
            f"computed {'PASS' if cold < 500 else 'MISS'}, unchanged {'PASS' if warm < 500 else 'MISS'}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
