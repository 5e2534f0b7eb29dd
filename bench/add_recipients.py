"""Benchmark: adding recipients through the API, and reading campaigns.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/add_recipients.py

PostgreSQL only. The script creates a scratch database of its own (`<db>_bench_recipients`,
or BENCH_DATABASE_NAME), migrates it, fills it, measures and drops it; nothing else is
touched. Requests go through DRF's test client in this process (URL routing, auth,
throttling, serializers, views, services — everything but a socket), authenticated by token.

Figures printed:
1. 100,000 leads added to one campaign by `lead_ids` in 10 requests of 10,000 → recipients/s,
   beside the ceiling: a raw psycopg COPY of the same 100,000 rows into the recipient table.
2. `lead_filters` matching all 100,000 leads, one request → recipients/s.
3. p50/p95 latency of `GET /api/v1/campaigns` (page of 20 among 1,000 campaigns) and of
   `GET /api/v1/campaigns/{id}` on the campaign with 100,000 recipients.
"""

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

N_LEADS = int(os.environ.get("BENCH_LEADS", 100_000))
BATCH = 10_000
N_CAMPAIGNS = 1_000
N_GETS = int(os.environ.get("BENCH_GETS", 200))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))


def main():
    import django

    if not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (the scratch database is created beside it).")
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
    os.environ["DATABASE_TEST_NAME"] = os.environ.get("BENCH_DATABASE_NAME", f"{base}_bench_recipients")
    django.setup()
    from django.conf import settings
    from django.db import connection

    base = settings.DATABASES["default"]["NAME"]
    settings.DEBUG = False
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"scratch database: {name}")
        run()
    finally:
        if not os.environ.get("BENCH_KEEP_DATABASE"):
            connection.creation.destroy_test_db(base, verbosity=0)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def copy_leads(cursor, n):
    now = "2025-11-05 12:00:00+00"
    with cursor.copy(
        "COPY campaigns_lead (email, first_name, last_name, company, phone, city, source, status, tags, attributes, "
        "created_at, updated_at) FROM STDIN"
    ) as copy:
        for i in range(n):
            copy.write_row(
                (
                    f"lead{i}@bench.example",
                    f"First{i}",
                    f"Last{i}",
                    "Acme",
                    "",
                    "Austin",
                    ("craigslist", "google_maps", "linkedin", "job_boards")[i % 4],
                    "new",
                    '["bench"]',
                    "{}",
                    now,
                    now,
                )
            )


def percentiles(samples):
    samples = sorted(samples)
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def run():
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from campaigns.models import Campaign, CampaignRecipient, EmailTemplate, Lead

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", secrets.token_hex(16))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    template = EmailTemplate.objects.create(name="Bench", subject="Hi", body_html="<p>Hi {{ lead.first_name }}</p>")

    with connection.cursor() as cursor:
        seconds, _ = timed(lambda: copy_leads(cursor.cursor, N_LEADS))
    print(f"setup: {N_LEADS:,} leads by COPY in {seconds:.2f} s")
    lead_ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    rows = list(Lead.objects.order_by("pk").values_list("pk", "email", "first_name", "last_name"))
    now = "2025-11-05 12:00:00+00"
    filters = {"sources": ["craigslist", "google_maps", "linkedin", "job_boards"], "tags": ["bench"]}

    def add_by_ids():
        """10 requests of 10,000 ids to a new campaign; (seconds, per-request seconds, campaign)."""
        campaign = Campaign.objects.create(name="By ids", template=template, created_by=user)
        url = f"/api/v1/campaigns/{campaign.pk}/recipients"
        per_request = []
        for start in range(0, len(lead_ids), BATCH):
            part = lead_ids[start : start + BATCH]
            seconds, response = timed(lambda part=part: client.post(url, {"lead_ids": part}, format="json"))
            assert response.status_code == 200, response.content[:500]
            assert response.json()["successful"] == len(part), response.json()["message"]
            per_request.append(seconds)
        campaign.refresh_from_db()
        assert campaign.total_recipients == N_LEADS == CampaignRecipient.objects.filter(campaign=campaign).count()
        return sum(per_request), per_request, campaign

    def copy_recipients():
        """The ceiling: a raw COPY of the same rows (same columns, tokens made in Python)."""
        campaign = Campaign.objects.create(name="COPY ceiling", template=template, created_by=user)

        def copy():
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(
                    "COPY campaigns_campaignrecipient (campaign_id, lead_id, email_address, first_name, last_name, "
                    "status, token, message_id, attempts, error_message, open_count, click_count, machine_open_count, "
                    "machine_click_count, created_at, updated_at) FROM STDIN"
                ) as copy,
            ):
                for pk, email, first, last in rows:
                    copy.write_row(
                        (
                            campaign.pk,
                            pk,
                            email,
                            first,
                            last,
                            "pending",
                            secrets.token_hex(24),
                            "",
                            0,
                            "",
                            0,
                            0,
                            0,
                            0,
                            now,
                            now,
                        )
                    )

        return timed(copy)[0]

    def add_by_filters():
        """lead_filters matching every lead, one request to a new campaign."""
        campaign = Campaign.objects.create(name="By filters", template=template, created_by=user)
        seconds, response = timed(
            lambda: client.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"lead_filters": filters}, format="json")
        )
        assert response.status_code == 200 and response.json()["successful"] == N_LEADS, response.content[:500]
        return seconds

    # Interleaved rounds: the machine is shared, so each figure is given as best and median.
    api_runs, copy_runs, filter_runs, per_request = [], [], [], []
    by_ids = None
    for _ in range(ROUNDS):
        seconds, requests, campaign = add_by_ids()
        api_runs.append(seconds)
        per_request += requests
        by_ids = by_ids or campaign
        copy_runs.append(copy_recipients())
        filter_runs.append(add_by_filters())

    # 3. Reads.
    Campaign.objects.bulk_create(
        Campaign(name=f"Bench campaign {i}", template=template, created_by=user)
        for i in range(N_CAMPAIGNS - Campaign.objects.count())
    )
    # Steady state (what autovacuum leaves behind): statistics and the visibility map set.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")

    def latencies(path):
        for _ in range(10):  # warm-up
            client.get(path)
        samples = []
        for _ in range(N_GETS):
            seconds, response = timed(lambda: client.get(path))
            assert response.status_code == 200, response.content[:300]
            samples.append(seconds * 1000)
        return percentiles(samples)

    list_p50, list_p95 = latencies("/api/v1/campaigns?page_size=20")
    detail_p50, detail_p95 = latencies(f"/api/v1/campaigns/{by_ids.pk}")
    recipients_p50, recipients_p95 = latencies(f"/api/v1/campaigns/{by_ids.pk}/recipients?page_size=50")

    def rates(runs):
        return N_LEADS / min(runs), N_LEADS / statistics.median(runs)

    api_best, api_median = rates(api_runs)
    copy_best, copy_median = rates(copy_runs)
    filter_best, filter_median = rates(filter_runs)
    print()
    print(f"{ROUNDS} rounds of {N_LEADS:,} recipients each; rates as best / median")
    print(
        f"add by lead_ids, API, {N_LEADS // BATCH} x {BATCH:,}: {api_best:,.0f} / {api_median:,.0f} recipients/s "
        f"(requests {min(per_request) * 1000:.0f}–{max(per_request) * 1000:.0f} ms; target >= 20,000/s)"
    )
    print(
        f"ceiling, raw COPY of the same {N_LEADS:,} rows: {copy_best:,.0f} / {copy_median:,.0f} recipients/s "
        f"(the API reaches {100 * api_best / copy_best:.0f}% / {100 * api_median / copy_median:.0f}% of it)"
    )
    print(
        f"add by lead_filters, API, 1 request over {N_LEADS:,} leads: {filter_best:,.0f} / {filter_median:,.0f} "
        f"recipients/s (target >= 10,000/s)"
    )
    print(
        f"GET /api/v1/campaigns (20 of {N_CAMPAIGNS:,}): p50 {list_p50:.1f} ms, p95 {list_p95:.1f} ms "
        f"(target p95 < 50 ms)"
    )
    print(
        f"GET /api/v1/campaigns/{{id}} ({N_LEADS:,} recipients): p50 {detail_p50:.1f} ms, p95 {detail_p95:.1f} ms "
        f"(target p95 < 50 ms)"
    )
    print(
        f"GET /api/v1/campaigns/{{id}}/recipients (50 of {N_LEADS:,}): p50 {recipients_p50:.1f} ms, "
        f"p95 {recipients_p95:.1f} ms"
    )
    print(
        f"requests through DRF's test client in-process; load average at the end: {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
