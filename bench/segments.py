"""Benchmark: segment counts and adding a segment to a campaign, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_segments .venv/bin/python bench/segments.py \\
        [--leads 1000000] [--recipients 5000000] [--rounds 7] [--keep] [--reuse]

The script makes a scratch database of its own (`<db>_bench_segments`, or BENCH_DATABASE_NAME),
migrates it, fills it with INSERT … SELECT generate_series (leads, 50 sent campaigns, 1 %
suppressed addresses), VACUUM ANALYZEs, measures and drops it (`--keep` keeps it, `--reuse`
measures an existing one without filling it again).

Figures printed, each beside a ceiling measured in the same run:
1. p50/p95 of `segment_leads(segment).count()` (the `lead_count` of the API) for tag, attribute,
   engagement and mixed rules; ceiling: a bare `SELECT count(*)` of the lead table.
2. `POST /api/v1/campaigns/{id}/recipients {"segment_id"}` with a segment of ~500,000 members
   (through DRF's test client: routing, auth, serializers, the service) → recipients/s;
   ceiling: a bare INSERT … SELECT of the same rows (same lead ids, columns and database-made
   tokens, `audience._insert_sql`) into another campaign, without rules, checks or counts.
"""

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")
os.environ.setdefault("DEBUG", "1")  # a development run: the settings default to DEBUG off
os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")

N_CAMPAIGNS = 50


def main():
    import django

    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="measure an existing scratch database")
    parser.add_argument("--counts-only", action="store_true", help="skip the segment add (figure 2)")
    parser.add_argument("--add-only", action="store_true", help="skip the counts (figure 1)")
    parser.add_argument("--add-rounds", type=int, default=3, help="interleaved add / ceiling pairs")
    parser.add_argument(
        "--jit", action="store_true", help="leave PostgreSQL's JIT on (off by default: see docs/benchmarks.md)"
    )
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (the scratch database is created beside it).")
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
    scratch = os.environ.get("BENCH_DATABASE_NAME", f"{base}_bench_segments")
    if args.reuse:
        os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + scratch
    os.environ["DATABASE_TEST_NAME"] = scratch
    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.DEBUG = False
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.reuse:
        run(args, do_fill=False)
        return
    base = settings.DATABASES["default"]["NAME"]
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"scratch database: {name}")
        run(args, do_fill=True)
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(base, verbosity=0)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def percentiles(samples):
    samples = sorted(samples)
    return statistics.median(samples), samples[round(0.95 * (len(samples) - 1))]


INDEXES_SQL = """
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    WHERE i.indrelid = ANY (ARRAY['campaigns_lead'::regclass, 'campaigns_campaignrecipient'::regclass])
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def fill(cursor, n_leads, n_recipients):
    """Leads, campaigns, recipients and suppressions by set operations (no Python loop).

    Bulk-load practice: the indexes that back no constraint are dropped first and built again
    at the end (one sort each instead of 5,000,000 insertions), and the counter triggers are
    off during the load (the bench campaigns' CampaignCounters are not used here; the leads'
    engagement rollup is computed once at the end, by the migration's backfill)."""
    from campaigns import lead_engagement

    cursor.execute("SET synchronous_commit = off")
    cursor.execute("SET maintenance_work_mem = '256MB'")
    cursor.execute(INDEXES_SQL)
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    cursor.execute("ALTER TABLE campaigns_campaignrecipient DISABLE TRIGGER USER")
    _fill(cursor, n_leads, n_recipients)
    cursor.execute("ALTER TABLE campaigns_campaignrecipient ENABLE TRIGGER USER")
    # The leads' engagement rollup, as the migration's backfill computes it (its triggers
    # were off with the others), then the lead table rewritten without the dead rows.
    cursor.execute(lead_engagement.backfill_sql("postgresql"))
    cursor.execute("VACUUM FULL campaigns_lead")
    for _, definition in indexes:
        cursor.execute(definition)


def _defaults(model, given: str) -> tuple[str, str, list]:
    """The NOT NULL columns of `model` missing from the column list `given`, with their Django
    defaults as parameters: (", col, …", ", %s, …", params). Columns added since this bench was
    written then get their defaults instead of failing the load."""
    from django.db import connection

    named = {name.strip() for name in given.split(",")}
    fields = [f for f in model._meta.concrete_fields if not f.null and not f.primary_key and f.column not in named]
    params = [f.get_db_prep_save(f.get_default(), connection) for f in fields]
    return "".join(f", {f.column}" for f in fields), "".join(", %s" for _ in fields), params


def _fill(cursor, n_leads, n_recipients):
    from campaigns.models import Campaign, CampaignRecipient, Lead

    lead_cols = (
        "email, first_name, last_name, company, phone, city, source, status, tags, attributes, created_at, updated_at"
    )
    extra_cols, extra_vals, extra = _defaults(Lead, lead_cols)
    cursor.execute(
        f"""
        INSERT INTO campaigns_lead ({lead_cols}{extra_cols})
        SELECT 'lead' || i || '@bench.example', 'First' || i, 'Last' || (i %% 1000), 'Company ' || (i %% 5000),
               CASE WHEN i %% 3 = 0 THEN '' ELSE '555-' || (i %% 10000) END,
               (ARRAY['Austin','Dallas','Houston','Reno','Denver','Boston','Miami','Tulsa'])[1 + i %% 8],
               (ARRAY['craigslist','google_maps','linkedin','job_boards'])[1 + i %% 4],
               (ARRAY['new','contacted','qualified','converted'])[1 + i %% 4],
               CASE WHEN i %% 10 = 0 THEN '["vip", "roofing"]'::jsonb WHEN i %% 3 = 0 THEN '["roofing"]'::jsonb
                    WHEN i %% 7 = 0 THEN '["plumbing", "vip"]'::jsonb ELSE '[]'::jsonb END,
               jsonb_build_object(
                   -- half numbers, half numeric strings (as a CSV import stores them)
                   'score', CASE WHEN i %% 2 = 0 THEN to_jsonb(i %% 100) ELSE to_jsonb((i %% 100)::text) END,
                   'plan', (ARRAY['gold','silver','bronze','free'])[1 + i %% 4],
                   'employees', to_jsonb((i * 7) %% 500)),
               now() - make_interval(days => i %% 730), now(){extra_vals}
        FROM generate_series(1, {int(n_leads)}) AS i
        """,
        extra,
    )
    campaign_cols = "campaign_id, name, status, created_at, updated_at"
    extra_cols, extra_vals, extra = _defaults(Campaign, campaign_cols)
    cursor.execute(
        f"INSERT INTO campaigns_campaign ({campaign_cols}{extra_cols}) "
        f"SELECT 'camp_' || lpad(to_hex(k), 12, '0'), 'Bench ' || k, 'completed', now(), now(){extra_vals} "
        f"FROM generate_series(1, {N_CAMPAIGNS}) AS k",
        extra,
    )
    per_campaign = min(n_recipients // N_CAMPAIGNS, n_leads)
    # Campaign k gets `per_campaign` distinct leads: g -> (g * 7919 + k * 104729) mod n is a
    # bijection (7919 is prime and does not divide n). Sent 0-89 days ago; 25 % opened, 8 %
    # clicked, 2 % replied, 2 % bounced (not opened), 5 % machine opens only.
    recipient_cols = (
        "campaign_id, lead_id, email_address, first_name, last_name, status, token, message_id, attempts, "
        "error_message, open_count, click_count, machine_open_count, machine_click_count, sent_at, opened_at, "
        "clicked_at, replied_at, bounced_at, created_at, updated_at"
    )
    extra_cols, extra_vals, extra = _defaults(CampaignRecipient, recipient_cols)
    cursor.execute(
        f"""
        INSERT INTO campaigns_campaignrecipient ({recipient_cols}{extra_cols})
        SELECT c.id, l.id, l.email, l.first_name, l.last_name,
               CASE WHEN h %% 50 = 1 THEN 'bounced' ELSE 'sent' END,
               'b' || c.id || '-' || g, '', 1, '', CASE WHEN h %% 4 = 0 THEN 1 ELSE 0 END, 0,
               CASE WHEN h %% 20 = 3 THEN 1 ELSE 0 END, 0,
               s.sent, CASE WHEN h %% 4 = 0 THEN s.sent + interval '1 hour' END,
               CASE WHEN h %% 25 = 0 THEN s.sent + interval '2 hours' END,
               CASE WHEN h %% 50 = 0 THEN s.sent + interval '1 day' END,
               CASE WHEN h %% 50 = 1 THEN s.sent END, s.sent, s.sent{extra_vals}
        FROM campaigns_campaign c
        CROSS JOIN generate_series(1, {int(per_campaign)}) AS g
        CROSS JOIN LATERAL (SELECT ((g::bigint * 7919 + c.id * 104729) %% {int(n_leads)}) + 1 AS lead_pk,
                                   (g::bigint * 31 + c.id) AS h) AS p
        CROSS JOIN LATERAL (SELECT now() - make_interval(days => ((g + c.id) %% 90)::int) AS sent) AS s
        JOIN campaigns_lead l ON l.id = p.lead_pk
        """,
        extra,
    )
    cursor.execute(
        "INSERT INTO campaigns_suppression (email, reason, source, created_at) "
        "SELECT email, 'unsubscribed', 'bench', now() FROM campaigns_lead WHERE id % 100 = 7"
    )
    cursor.execute(  # one pass over the recipients (the indexes are not built yet)
        "UPDATE campaigns_campaign c SET total_recipients = x.n FROM (SELECT campaign_id, count(*) AS n "
        "FROM campaigns_campaignrecipient GROUP BY campaign_id) x WHERE x.campaign_id = c.id"
    )


RULES = {
    "tags has_any [vip]": [{"field": "tags", "op": "has_any", "value": ["vip"]}],
    "tags has_all [vip, roofing]": [{"field": "tags", "op": "has_all", "value": ["vip", "roofing"]}],
    "attributes.score gt 90 (numeric)": [{"field": "attributes.score", "op": "gt", "value": 90}],
    "attributes.plan eq Gold": [{"field": "attributes.plan", "op": "eq", "value": "Gold"}],
    "opened any, within 30 days": [{"field": "engagement", "op": "opened", "value": {"within_days": 30}}],
    "not_opened any campaign": [{"field": "engagement", "op": "not_opened", "value": {}}],
    "not_clicked any, within 30 days": [{"field": "engagement", "op": "not_clicked", "value": {"within_days": 30}}],
    "received any, within 7 days": [{"field": "engagement", "op": "received", "value": {"within_days": 7}}],
    "clicked campaign 1": [{"field": "engagement", "op": "clicked", "value": {"campaign": "camp_000000000001"}}],
    "city in + tags + score + opened": [
        {"field": "city", "op": "in", "value": ["austin", "dallas"]},
        {"field": "tags", "op": "has_any", "value": ["roofing"]},
        {"field": "attributes.score", "op": "gte", "value": "50"},
        {"field": "engagement", "op": "opened", "value": {}},
    ],
}


def counts(args, connection, segment_leads, Segment):
    """Figure 1: p50/p95 of each rule's member count, beside a bare COUNT(*) of the leads (the
    smallest index, read index-only) and a bare heap scan of them."""

    def bare_count():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM campaigns_lead")
            return cursor.fetchone()[0]

    def heap_scan():
        # Every lead row read and deformed to its last column (the rollup's), no test, no
        # suppression check: what any rule that is not served by an index starts from.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(last_clicked_at IS NULL OR NULL) FROM campaigns_lead")
            return cursor.fetchone()[0]

    for label, fn in (("bare COUNT(*) of leads", bare_count), ("heap scan of leads (no test)", heap_scan)):
        fn()
        p50, p95 = percentiles([timed(fn)[0] for _ in range(args.rounds)])
        print(f"ceiling  {label:<34} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")
    worst = 0.0
    for label, conditions in RULES.items():
        segment = Segment(name=label, rules={"match": "all", "conditions": conditions})
        timed(lambda segment=segment: segment_leads(segment).count())  # warm-up
        samples, count = [], 0
        for _ in range(args.rounds):
            seconds, count = timed(lambda segment=segment: segment_leads(segment).count())
            samples.append(seconds)
        p50, p95 = percentiles(samples)
        worst = max(worst, p95)
        print(f"count    {label:<34} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  ({count:,} members)")
    print(f"count    worst p95 {worst * 1000:.0f} ms (target < 1000 ms)")


def run(args, do_fill):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from campaigns.models import Campaign, Lead, Segment
    from campaigns.segments.selectors import segment_leads

    if do_fill:
        with connection.cursor() as cursor:
            seconds, _ = timed(lambda: fill(cursor, args.leads, args.recipients))
            print(f"setup: {args.leads:,} leads, {args.recipients:,} recipients in {seconds:.1f} s")
            seconds, _ = timed(lambda: cursor.execute("VACUUM ANALYZE"))
            print(f"setup: VACUUM ANALYZE in {seconds:.1f} s")
    with connection.cursor() as cursor:
        # JIT compiles each of these statements anew (~200 ms of a count on this machine);
        # production sets it off for the web role (DATABASE_URL `?options=-c%20jit%3Doff`).
        cursor.execute(f"SET jit = {'on' if args.jit else 'off'}")
        cursor.execute("SELECT count(*) FROM campaigns_lead")
        n_leads = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM campaigns_campaignrecipient")
        n_recipients = cursor.fetchone()[0]
    print(f"data: {n_leads:,} leads, {n_recipients:,} recipient rows")

    if not args.add_only:
        counts(args, connection, segment_leads, Segment)

    if args.counts_only:
        return
    # 2. Adding a ~500,000-member segment.
    user = get_user_model().objects.create_superuser(
        f"bench-{secrets.token_hex(3)}", "bench@example.com", secrets.token_hex(16)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    half = {"match": "all", "conditions": [{"field": "attributes.score", "op": "lt", "value": 50}]}
    segment = Segment.objects.create(name="Half", rules=half)
    members = segment_leads(segment).count()

    previous = {}

    def add_segment():
        campaign = Campaign.objects.create(name="Segment add", created_by=user)
        seconds, response = timed(
            lambda: client.post(
                f"/api/v1/campaigns/{campaign.pk}/recipients", {"segment_id": segment.pk}, format="json"
            )
        )
        assert response.status_code == 200, response.content[:500]
        assert response.json()["successful"] == members, response.json()["message"]
        previous["campaign"] = campaign
        return seconds

    def bare_insert():
        """The same rows (columns, values, the database's tokens: `audience._insert_sql`) for
        the same lead ids — those the API run just added — with no rule, check or count."""
        from django.db import transaction
        from django.utils import timezone

        from campaigns.audience import _insert_sql

        campaign = Campaign.objects.create(name="INSERT ceiling", created_by=user)
        source = (
            "campaigns_lead l WHERE l.id IN (SELECT lead_id FROM campaigns_campaignrecipient WHERE campaign_id = %s)"
        )
        sql, params = _insert_sql(campaign=campaign, now=timezone.now(), source=source)
        sql = sql.replace("{on_conflict}", "")

        def run():
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [*params, previous["campaign"].pk])
                assert cursor.rowcount == members

        return timed(run)[0]

    add_runs, insert_runs = [], []
    for _ in range(args.add_rounds):  # interleaved: the machine is shared
        add_runs.append(add_segment())
        insert_runs.append(bare_insert())
    best_add, best_insert = min(add_runs), min(insert_runs)
    print(
        f"add      segment of {members:,} members via API: best {members / best_add:,.0f} recipients/s "
        f"({best_add:.2f} s), median {members / statistics.median(add_runs):,.0f}/s (target ≥ 40,000/s)"
    )
    print(
        f"ceiling  bare INSERT … SELECT of {members:,} rows: best {members / best_insert:,.0f} rows/s "
        f"({best_insert:.2f} s), median {members / statistics.median(insert_runs):,.0f}/s"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    assert Lead.objects.exists()


if __name__ == "__main__":
    main()
