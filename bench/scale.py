"""The sender's cost must not grow with the campaign: a campaign of 1,000,000 recipients on
PostgreSQL, the engine's own claim / start / record statements timed over the first and the
last 10% of it, beside a ceiling measured in the same run.

    DATABASE_URL=postgres://…/<db> .venv/bin/python bench/scale.py [--recipients 1000000]
        [--sample 20000] [--batch 200]

- Setup: 1,000,000 leads and recipients made by INSERT … SELECT generate_series (no Python
  loop), one campaign `running`.
- First 10%: batches are claimed with the engine's claim function and every claimed message
  is started and recorded `sent` with the engine's per-message statements (on PostgreSQL the
  record of one message and the start of the next are one statement, as the drivers run
  them). No SMTP: the per-message *database* time is what is measured; a sink would only add
  its own constant.
- Then the middle 80% is moved to `sent` in set operations of 50,000 rows (one UPDATE each,
  no VACUUM forced), measured at the worst point of autovacuum's cycle: the bench waits for
  the daemon to visit the table once (a real campaign sends for hours; the fast-forward
  takes a minute), then sends as many more rows as autovacuum lets pass before its next
  visit (the table's storage parameters, migration 0011), so the last 10% is claimed past
  the most dead index entries a real campaign's claim meets.
- Last 10%: the same loop over the rows left.
- Ceiling, in both segments: the same number of bare `UPDATE … WHERE id = %s` round trips
  (one per statement the engine runs) and a bare `SELECT id … LIMIT <batch>` for the claim.

`--sample N` measures N messages at the start of each segment (default 20,000 = 2% of the
campaign, 100 batches); `--sample 0` measures the whole 10%. Its rows are deleted afterwards.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")
os.environ.setdefault("DEBUG", "0")  # no query log kept per statement
os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.models import Campaign, CampaignRecipient, EmailTemplate, Lead  # noqa: E402

NAME = "bench scale"
DOMAIN = "scale.invalid"


# --- The engine's functions (named once here; the reshaped engine moves them) ---------------


def engine():
    """(claim(campaign, size) → rows, start(rid, cid) → bool, record_and_start(sent, next, cid)
    → bool, record(rid)) from whichever layout of the engine is installed."""
    try:
        from campaigns.sending import store  # the reshaped package

        return (
            lambda campaign, size: store.claim_batch(campaign=campaign, size=size),
            store.start,
            store.mark_sent_and_start,
            store.mark_sent,
        )
    except ImportError:
        from campaigns import sending as s

        return (
            lambda campaign, size: s.claim_batch(campaign=campaign, size=size),
            lambda rid, cid: s._start(rid, cid, timezone.now()) == 1,
            s._mark_sent_and_start,
            s._mark_sent,
        )


CLAIM, START, RECORD_AND_START, RECORD = engine()


# --- Setup ------------------------------------------------------------------------------------


def sql_default(field, given):
    """An SQL expression for `field` in INSERT … SELECT g FROM generate_series."""
    from django.db.models import DateTimeField

    if field.column in given:
        return given[field.column]
    if isinstance(field, DateTimeField) and (field.auto_now or field.auto_now_add):
        return "now()"
    if field.null:
        return "NULL"
    if field.has_default():
        value = field.get_default()
        if field.name == "token":
            return "md5(random()::text || g::text) || md5(g::text)"
        if isinstance(value, (list, dict)):
            return "'[]'::jsonb" if isinstance(value, list) else "'{}'::jsonb"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"
    if field.blank:
        return "''"
    raise SystemExit(f"no SQL default for {field.model.__name__}.{field.name}")


def insert_select(model, n, given):
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(sql_default(f, given) for f in fields)
    return f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {values} FROM generate_series(1, {n}) g"


def setup(n):
    cleanup()
    template = EmailTemplate.objects.create(name=NAME, subject="Hi", body_html="<p>Hi</p>")
    campaign = Campaign.objects.create(name=NAME, template=template, from_email="news@fliptech.example")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            insert_select(
                Lead,
                n,
                {"email": f"'s' || g || '@{DOMAIN}'", "first_name": "'N' || g"},
            )
        )
        leads = Lead._meta.db_table
        fields = [f for f in CampaignRecipient._meta.concrete_fields if not f.primary_key]
        given = {
            "campaign_id": str(campaign.pk),
            "lead_id": "l.id",
            "email_address": "l.email",
            "first_name": "l.first_name",
        }
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        values = ", ".join(sql_default(f, given) for f in fields).replace("g::text", "l.id::text")
        cursor.execute(
            f"INSERT INTO {CampaignRecipient._meta.db_table} ({columns})"
            f" SELECT {values} FROM {leads} l WHERE l.email LIKE %s ORDER BY l.id",
            [f"%@{DOMAIN}"],
        )
        cursor.execute(f"ANALYZE {leads}; ANALYZE {CampaignRecipient._meta.db_table}")
    Campaign.objects.filter(pk=campaign.pk).update(
        total_recipients=n, status=Campaign.Status.RUNNING, started_at=timezone.now()
    )
    campaign.refresh_from_db()
    return campaign, time.perf_counter() - started


def reuse(n):
    """The campaign a `--keep` run left, every row back to `pending`, then VACUUM ANALYZE:
    the state `setup` leaves, without making a million rows again."""
    campaign = Campaign.all_objects.filter(name=NAME, total_recipients=n).first()
    if campaign is None:
        return None
    table = CampaignRecipient._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = 'pending', sent_at = NULL, claimed_at = NULL, lease_expires_at = NULL,"
            f" message_id = '', error_message = '' WHERE campaign_id = %s AND status <> 'pending'",
            [campaign.pk],
        )
        cursor.execute(f"VACUUM ANALYZE {table}")
    Campaign.all_objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    return campaign, time.perf_counter() - started


def cleanup():
    Campaign.all_objects.filter(name=NAME).delete()
    EmailTemplate.objects.filter(name=NAME).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Lead._meta.db_table} WHERE email LIKE %s", [f"%@{DOMAIN}"])


# --- Measuring ------------------------------------------------------------------------------


def segment(campaign, messages, batch, max_seconds):
    """Claim and send (database side only) `messages` messages as the driver does, for at
    most `max_seconds`."""
    claims, per_message, done = [], [], 0
    deadline = time.perf_counter() + max_seconds
    while done < messages and time.perf_counter() < deadline:
        t = time.perf_counter()
        rows = CLAIM(campaign, batch)
        claims.append(time.perf_counter() - t)
        if not rows:
            break
        ids = [r.pk for r in rows]
        t = time.perf_counter()
        assert START(ids[0], campaign.pk)
        for i, rid in enumerate(ids):
            if i + 1 < len(ids):
                assert RECORD_AND_START(rid, ids[i + 1], campaign.pk)
            else:
                RECORD(rid)
        per_message.append((time.perf_counter() - t) / len(ids))
        done += len(ids)
    return claims, per_message, done


def ceiling(campaign, messages, batch):
    """Bare round trips on the same table: a PK UPDATE per engine statement, and the
    claim's SELECT without the claim (no lock, no update)."""
    table = CampaignRecipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE campaign_id = %s ORDER BY id DESC LIMIT %s", [campaign.pk, batch])
        ids = [row[0] for row in cursor.fetchall()]
        claims, per_message = [], []
        for _ in range(max(1, messages // batch)):
            t = time.perf_counter()
            cursor.execute(
                f"SELECT id FROM {table} WHERE campaign_id = %s AND status = 'pending' ORDER BY id LIMIT %s",
                [campaign.pk, batch],
            )
            cursor.fetchall()
            claims.append(time.perf_counter() - t)
            t = time.perf_counter()
            for rid in ids:
                cursor.execute(f"UPDATE {table} SET updated_at = updated_at WHERE id = %s", [rid])
            per_message.append((time.perf_counter() - t) / len(ids))
    return claims, per_message


def fast_forward(campaign, until_pending, step=50_000):
    """Move pending rows to `sent` (lowest ids first) until `until_pending` are left."""
    table = CampaignRecipient._meta.db_table
    with connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE campaign_id = %s AND status = 'pending'", [campaign.pk])
            left = cursor.fetchone()[0]
            if left <= until_pending:
                return
            cursor.execute(
                f"UPDATE {table} SET status = 'sent', sent_at = now(), updated_at = now() WHERE id IN"
                f" (SELECT id FROM {table} WHERE campaign_id = %s AND status = 'pending' ORDER BY id LIMIT %s)",
                [campaign.pk, min(step, left - until_pending)],
            )


def autovacuum_backlog():
    """How many rows may change before autovacuum visits the recipient table (its storage
    parameters, migration 0011, or PostgreSQL's defaults)."""
    table = CampaignRecipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions, reltuples FROM pg_class WHERE relname = %s", [table])
        options, rows = cursor.fetchone()
    options = dict(option.split("=") for option in options or [])
    return int(float(options.get("autovacuum_vacuum_scale_factor", 0.2)) * rows) + int(
        options.get("autovacuum_vacuum_threshold", 50)
    )


def wait_for_autovacuum(since_count, max_seconds=300):
    """Wait until the autovacuum daemon has visited the recipient table once more (what a
    campaign that sends for hours gets without asking); the seconds waited, or None. On a
    server with `autovacuum = off` the bench runs the VACUUM ANALYZE the daemon would."""
    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] != "on":
            print("  (autovacuum is off on this server: the bench runs VACUUM ANALYZE where the daemon would)")
            cursor.execute(f"VACUUM ANALYZE {CampaignRecipient._meta.db_table}")
            return time.perf_counter() - t
    while time.perf_counter() - t < max_seconds:
        if autovacuum_count() > since_count:
            return time.perf_counter() - t
        time.sleep(1)
    return None


def autovacuum_count():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = %s", [CampaignRecipient._meta.db_table]
        )
        return cursor.fetchone()[0]


def dead_tuples():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_live_tup, n_dead_tup, last_autovacuum FROM pg_stat_user_tables WHERE relname = %s",
            [CampaignRecipient._meta.db_table],
        )
        return cursor.fetchone()


def ms(values, q=None):
    if not values:
        return float("nan")
    if q is None:
        return statistics.fmean(values) * 1000
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="messages measured per segment (0: the whole 10%%)")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the rows afterwards, and reuse kept ones")
    parser.add_argument(
        "--last-only",
        action="store_true",
        help="with --keep: measure the kept campaign's rows left as they are (no reset), after VACUUM ANALYZE",
    )
    parser.add_argument("--max-seconds", type=float, default=120, help="per segment: stop sampling after this")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/scale.py needs PostgreSQL (DATABASE_URL=postgres://…)")
    tenth = args.recipients // 10
    sample = args.sample or tenth

    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if args.last_only:
        campaign = Campaign.all_objects.get(name=NAME, total_recipients=args.recipients)
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {CampaignRecipient._meta.db_table}")
        print(f"VACUUM ANALYZE (what autovacuum does during a long campaign): {time.perf_counter() - t:.1f} s")
        claims, per_message, done = segment(campaign, sample, args.batch, args.max_seconds)
        ceiling_claims, ceiling_per_message = ceiling(campaign, done, args.batch)
        print(
            f"last 10% after VACUUM: {done:,} messages in {len(claims)} batches of {args.batch}\n"
            f"  claim:       mean {ms(claims):6.2f} ms  p95 {ms(claims, 95):6.2f} ms"
            f"   | ceiling (bare SELECT … LIMIT {args.batch}) mean {ms(ceiling_claims):6.2f} ms\n"
            f"  per message: mean {ms(per_message):6.3f} ms (start + record)"
            f"   | ceiling (2 bare PK UPDATEs) {2 * ms(ceiling_per_message):6.3f} ms"
        )
        return
    reused = reuse(args.recipients) if args.keep else None
    if reused:
        campaign, took = reused
        print(f"setup: reused the kept campaign of {args.recipients:,}, reset to pending in {took:.1f} s")
    else:
        campaign, took = setup(args.recipients)
        print(f"setup: {args.recipients:,} leads + recipients in {took:.1f} s (INSERT … SELECT)")
    results = {}
    for name in ("first 10%", "last 10%"):
        if name == "last 10%":
            # The worst point of autovacuum's cycle: it has just visited the table, then
            # as many rows left `pending` as it lets pass before its next visit (a real
            # campaign sends for hours; the fast-forward takes a minute, so it waits for
            # the daemon once instead of forcing a VACUUM).
            backlog = min(autovacuum_backlog(), tenth)
            t = time.perf_counter()
            count = autovacuum_count()
            fast_forward(campaign, until_pending=tenth + backlog)
            waited = wait_for_autovacuum(count)
            fast_forward(campaign, until_pending=tenth)
            print(
                f"fast-forward to the last 10%: {time.perf_counter() - t:.1f} s, of which"
                f" {'no autovacuum within 300' if waited is None else f'{waited:.0f}'} s waiting for autovacuum;"
                f" then {backlog:,} more rows sent (autovacuum's backlog before its next visit);"
                f" live/dead tuples, last autovacuum: {dead_tuples()}"
            )
        claims, per_message, done = segment(campaign, sample, args.batch, args.max_seconds)
        ceiling_claims, ceiling_per_message = ceiling(campaign, done, args.batch)
        results[name] = (claims, per_message)
        print(
            f"{name}: {done:,} messages in {len(claims)} batches of {args.batch}\n"
            f"  claim:       mean {ms(claims):6.2f} ms  p95 {ms(claims, 95):6.2f} ms"
            f"   | ceiling (bare SELECT … LIMIT {args.batch}) mean {ms(ceiling_claims):6.2f} ms\n"
            f"  per message: mean {ms(per_message):6.3f} ms (start + record)"
            f"   | ceiling (2 bare PK UPDATEs) {2 * ms(ceiling_per_message):6.3f} ms"
        )
    (c1, m1), (c2, m2) = results["first 10%"], results["last 10%"]
    claim_growth = ms(c2) / ms(c1) - 1
    message_growth = ms(m2) / ms(m1) - 1
    verdict = "OK" if claim_growth <= 0.10 and message_growth <= 0.10 else "OVER TARGET"
    print(
        f"last vs first 10%: claim {claim_growth:+.1%}, per message {message_growth:+.1%} "
        f"(target: within +10%) → {verdict}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.keep:
        cleanup()


if __name__ == "__main__":
    main()
