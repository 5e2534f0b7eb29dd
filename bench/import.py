"""Benchmark: a CSV import through the API, and a CSV export of recipients.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/import.py

PostgreSQL only. The script creates a scratch database of its own (`<db>_bench_import`, or
BENCH_DATABASE_NAME), migrates it, measures and drops it; nothing else is touched. Requests
go through DRF's test client in this process (routing, token auth, multipart parsing,
views, services — everything but a socket). Celery runs eagerly (`task_always_eager`), so
the import task runs when the upload's transaction commits, inside the request: the time
of the POST is upload → stored → task done, end to end.

Figures printed:
1. A 100,000-row CSV (BENCH_ROWS) imported into an empty lead table → rows/s, beside the
   ceiling: the same file parsed by the csv module and `COPY`-ed raw into the lead table
   (no validation, no dedupe, no report), measured in the same run.
2. The same file imported again (every row `unchanged`) → rows/s.
3. The import task's memory: the process's peak RSS growth over the import of 1× and 3× the
   rows (flat = the same growth, not 3×).
4. Export of 1,000,000 recipients (BENCH_RECIPIENTS) through
   `GET /api/v1/campaigns/{id}/recipients/export`, streamed → rows/s, with the peak RSS
   growth, beside the ceiling: a raw `COPY (SELECT …) TO STDOUT WITH CSV` of the same columns.
"""

import csv
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")
os.environ.setdefault("DEBUG", "1")  # a development run: the settings default to DEBUG off
os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

N_ROWS = int(os.environ.get("BENCH_ROWS", 100_000))
N_RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", 1_000_000))
COLUMNS = ["email", "first_name", "last_name", "company", "phone", "city", "source", "tags", "plan", "score"]


def main():
    import django

    if not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (the scratch database is created beside it).")
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
    os.environ["DATABASE_TEST_NAME"] = os.environ.get("BENCH_DATABASE_NAME", f"{base}_bench_import")
    django.setup()
    from django.conf import settings
    from django.db import connection

    base = settings.DATABASES["default"]["NAME"]
    settings.DEBUG = False
    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="bench-import-media-")
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"scratch database: {name}; load average {os.getloadavg()}")
        run()
    finally:
        if not os.environ.get("BENCH_KEEP_DATABASE"):
            connection.creation.destroy_test_db(base, verbosity=0)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_csv(path: Path, n: int, offset: int = 0):
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i in range(offset, offset + n):
            writer.writerow(
                [
                    f"lead{i}@bench.example",
                    f"First{i}",
                    f"Last{i}",
                    "Acme Roofing",
                    f"+1 555 {i:07d}",
                    ("Austin", "Dallas", "Houston")[i % 3],
                    ("craigslist", "google_maps", "linkedin")[i % 3],
                    "vip, roofing" if i % 2 else "",
                    ("gold", "silver")[i % 2],
                    str(i % 100),
                ]
            )


def post_file(client, path: Path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = path.read_bytes()
    start = time.perf_counter()
    response = client.post(
        "/api/v1/leads/import", {"file": SimpleUploadedFile(path.name, data, "text/csv")}, format="multipart"
    )
    assert response.status_code == 202, response.content
    report = client.get(response.json()["url"]).json()
    elapsed = time.perf_counter() - start
    assert report["status"] == "completed", report
    return elapsed, report


def copy_ceiling(path: Path) -> float:
    """The same rows parsed by the csv module and COPY-ed raw into the lead table."""
    from django.db import connection

    start = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f, connection.cursor() as cursor:
        reader = csv.reader(f)
        next(reader)
        with cursor.copy(
            "COPY campaigns_lead (email, first_name, last_name, company, phone, city, source, timezone, status, "
            "email_status, tags, attributes, created_at, updated_at) FROM STDIN"
        ) as copy:
            for email, first, last, company, phone, city, source, tags, plan, score in reader:
                tag_list = '["vip", "roofing"]' if tags else "[]"
                copy.write_row(
                    (
                        email,
                        first,
                        last,
                        company,
                        phone,
                        city,
                        source,
                        "",
                        "new",
                        "valid",
                        tag_list,
                        f'{{"plan": "{plan}", "score": "{score}"}}',
                        "2026-01-01 00:00:00+00",
                        "2026-01-01 00:00:00+00",
                    )
                )
    return time.perf_counter() - start


def truncate_leads():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_lead CASCADE")
        cursor.execute("VACUUM ANALYZE campaigns_lead")


def run():
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = User.objects.create_superuser("bench", "bench@example.com", "x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    small, large = tmp / "leads.csv", tmp / "leads3.csv"
    write_csv(small, N_ROWS)
    write_csv(large, 3 * N_ROWS, offset=N_ROWS)
    print(f"file: {N_ROWS:,} rows, {small.stat().st_size / 1e6:.1f} MB")

    rss0 = rss_mb()
    elapsed, report = post_file(client, small)
    grow1 = rss_mb() - rss0
    assert report["created"] == N_ROWS, report
    print(f"import, empty table:     {N_ROWS / elapsed:9,.0f} rows/s ({elapsed:.2f} s)")
    elapsed, report = post_file(client, small)
    assert report["unchanged"] == N_ROWS, report
    print(f"import again, unchanged: {N_ROWS / elapsed:9,.0f} rows/s ({elapsed:.2f} s)")

    truncate_leads()
    elapsed = copy_ceiling(small)
    print(f"ceiling, raw COPY:       {N_ROWS / elapsed:9,.0f} rows/s ({elapsed:.2f} s)")

    truncate_leads()
    rss1 = rss_mb()
    elapsed, report = post_file(client, large)
    grow3 = rss_mb() - rss1
    print(f"import of 3×:            {3 * N_ROWS / elapsed:9,.0f} rows/s ({elapsed:.2f} s)")
    print(
        f"peak RSS growth: {grow1:.0f} MB over the 1× import (file read into memory by the test client: "
        f"{small.stat().st_size / 1e6:.0f} MB), {grow3:.0f} MB more over the 3× import"
    )
    print(f"load average {os.getloadavg()}")
    export_bench(client)


def export_bench(client):
    from django.db import connection

    from campaigns.models import Campaign

    campaign = Campaign.objects.create(name="export bench")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE campaigns_campaignrecipient DISABLE TRIGGER USER")
        cursor.execute(
            "INSERT INTO campaigns_campaignrecipient (campaign_id, email_address, first_name, last_name, status, "
            "token, message_id, attempts, error_message, open_count, click_count, machine_open_count, "
            "machine_click_count, created_at, updated_at, sent_at, opened_at) "
            "SELECT %s, 'r' || g || '@bench.example', 'First' || g, 'Last' || g, 'sent', md5(g::text), '', 1, '', "
            "g %% 3, g %% 2, 0, 0, now(), now(), now(), CASE WHEN g %% 3 > 0 THEN now() END "
            "FROM generate_series(1, %s) g",
            [campaign.pk, N_RECIPIENTS],
        )
        cursor.execute("ALTER TABLE campaigns_campaignrecipient ENABLE TRIGGER USER")
        cursor.execute("VACUUM ANALYZE campaigns_campaignrecipient")
    rss0 = rss_mb()
    start = time.perf_counter()
    response = client.get(f"/api/v1/campaigns/{campaign.pk}/recipients/export")
    size = rows = 0
    for piece in response.streaming_content:
        size += len(piece)
        rows += piece.count(b"\n")
    elapsed = time.perf_counter() - start
    assert rows == N_RECIPIENTS + 1, rows
    print(
        f"export of {N_RECIPIENTS:,} recipients: {N_RECIPIENTS / elapsed:9,.0f} rows/s ({elapsed:.2f} s, "
        f"{size / 1e6:.0f} MB), peak RSS growth {rss_mb() - rss0:.0f} MB"
    )
    start = time.perf_counter()
    sink = io.BytesIO()
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY (SELECT email_address, first_name, last_name, status, sent_at, opened_at, clicked_at, replied_at, "
            "bounced_at, unsubscribed_at, open_count, click_count, error_message FROM campaigns_campaignrecipient "
            f"WHERE campaign_id = {campaign.pk} ORDER BY created_at, id) TO STDOUT WITH CSV"
        ) as copy:
            for data in copy:
                sink.write(data)
                sink.seek(0)
                sink.truncate()
    elapsed = time.perf_counter() - start
    print(f"ceiling, raw COPY TO STDOUT: {N_RECIPIENTS / elapsed:9,.0f} rows/s ({elapsed:.2f} s)")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
