"""Follow-up steps at scale: a campaign (100,000 recipients by default) with two follow-up
steps on PostgreSQL, one worker process, to Postfix's `smtp-sink`. Prints, in the same run:

- the per-worker rate of the first messages, then of step 1 and of step 2 — the steps
  should be within 10 % of the first messages. Each phase sends `--real` messages (20,000)
  through the worker, and the rest of the phase is fast-forwarded in SQL (sent, its
  sequence advanced as the sender would: `generate_series`/`UPDATE … FROM`, no Python
  loop), so every phase runs against the full tables — 100,000 recipients, 100,000
  follow-up rows of each step — without sending 300,000 messages on a shared machine.
  The recipients and leads are generated in SQL too. The steps' delay is a day: the bench
  makes `--real` of them due now with one UPDATE, as the clock would;
- the ceiling (raw smtplib, pre-built messages, one connection) before and after;
- how due steps are found: the claim's plan with 100,000 follow-ups pending (an index scan
  of `message_claim`, no sort, no scan of the recipients; tests/steps pins it as the one
  query of a batch that finds due rows); the janitor's per-tick queries
  (`followups.stalled_campaign_ids`, `followups.catch_up`) timed with them in the table.

    DATABASE_URL=postgres://… CELERY_BROKER_URL=redis://… .venv/bin/python bench/steps.py

Options: --recipients N (100000), --real M (20000; M = N sends everything). Its leads
(…@bench.invalid) and campaigns are deleted afterwards.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")

from bench.send import ceiling, cleanup, free_port, make_html, prebuilt_messages, start_sink  # noqa: E402

MESSAGES = "campaigns_recipientmessage"
RECIPIENTS = "campaigns_campaignrecipient"


def sql(statement, params=None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})
        return cursor.rowcount


def setup_campaign(n, run):
    """The campaign (the 20 KB template of bench/send.py), its leads and recipients, made in SQL."""
    from campaigns.models import Campaign, EmailTemplate

    template = EmailTemplate.objects.create(
        name=f"bench {run}", subject="{{ lead.first_name }}, new listings in {{ lead.city }}", body_html=make_html()
    )
    campaign = Campaign.objects.create(
        name=f"bench {run}", template=template, from_email="news@fliptech.example", from_name="FlipTech"
    )
    sql(
        "INSERT INTO campaigns_lead (created_at, updated_at, email, first_name, last_name, company, phone, city,"
        " source, status, tags, attributes, timezone)"
        " SELECT now(), now(), 'b' || %(run)s || '.' || i || '@bench.invalid', 'First' || i, 'Last' || i,"
        " 'Company ' || i, '', 'Austin', '', 'new', '[]', jsonb_build_object('listing', (i %% 5 + 1) || 'BR apartment'),"
        " '' FROM generate_series(0, %(n)s - 1) AS i",
        {"run": run, "n": n},
    )
    sql(
        f"INSERT INTO {RECIPIENTS} (created_at, updated_at, campaign_id, lead_id, email_address, first_name,"
        " last_name, status, token, message_id, provider_message_id, attempts, error_message, open_count,"
        " click_count, machine_open_count, machine_click_count, sequence_status, stop_reason)"
        " SELECT now(), now(), %(campaign)s, l.id, l.email, l.first_name, l.last_name, 'pending',"
        " md5(random()::text || l.id) || md5(l.email), '', '', 0, '', 0, 0, 0, 0, 'active', ''"
        " FROM campaigns_lead l WHERE l.email LIKE 'b' || %(run)s || '.%%' ORDER BY l.id",
        {"campaign": campaign.pk, "run": run},
    )
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    sql(f"ANALYZE {RECIPIENTS}")
    return campaign


def fast_forward_first(campaign, real) -> int:
    """All but the `real` lowest recipients: sent, advanced (step 1 pending, due in a day)."""
    params = {"campaign": campaign.pk, "real": real}
    done = sql(
        f"WITH ff AS (SELECT id FROM {RECIPIENTS} WHERE campaign_id = %(campaign)s ORDER BY id OFFSET %(real)s),"
        f" sent AS (UPDATE {RECIPIENTS} r SET status = 'sent', sent_at = now(), updated_at = now(),"
        " message_id = '<ff' || r.id || '.bench@fliptech.example>', current_step = 0,"
        " next_step_at = now() + interval '1 day' FROM ff WHERE r.id = ff.id RETURNING r.id)"
        f" INSERT INTO {MESSAGES} (recipient_id, campaign_id, position, status, due_at, message_id,"
        " provider_message_id, subject, attempts, error_message, created_at, updated_at)"
        " SELECT id, %(campaign)s, 1, 'pending', now() + interval '1 day', '', '', '', 0, '', now(), now() FROM sent",
        params,
    )
    return done


def drop_rows(run) -> None:
    """The bench's rows, in SQL (Django's delete collector would load 300,000 of them)."""
    from campaigns.models import Campaign

    ids = list(Campaign.all_objects.filter(name=f"bench {run}").values_list("pk", flat=True))
    for table in (MESSAGES, "tracking_reply", "tracking_emailtracking", RECIPIENTS):
        sql(f"DELETE FROM {table} WHERE campaign_id = ANY(%(ids)s)", {"ids": ids})
    sql("DELETE FROM campaigns_lead WHERE email LIKE 'b' || %(run)s || '.%%'", {"run": run})


def make_due(campaign, position, real) -> int:
    return sql(
        f"UPDATE {MESSAGES} SET due_at = now() WHERE id IN (SELECT id FROM {MESSAGES} WHERE campaign_id = %(campaign)s"
        " AND position = %(position)s AND status = 'pending' ORDER BY recipient_id LIMIT %(real)s)",
        {"campaign": campaign.pk, "position": position, "real": real},
    )


def fast_forward_step(campaign, position) -> int:
    """The step's rows still pending: sent, their sequences advanced (the next step pending,
    due in a day, or finished)."""
    last = position == 2
    params = {"campaign": campaign.pk, "position": position}
    advance = "sequence_status = 'finished', next_step_at = NULL" if last else "next_step_at = now() + interval '1 day'"
    statement = (
        f"WITH sent AS (UPDATE {MESSAGES} m SET status = 'sent', sent_at = now(), updated_at = now(),"
        " message_id = '<ff' || m.position || '.' || m.id || '.bench@fliptech.example>'"
        " WHERE campaign_id = %(campaign)s AND position = %(position)s AND status = 'pending'"
        " RETURNING recipient_id),"
        f" adv AS (UPDATE {RECIPIENTS} r SET current_step = %(position)s, {advance} FROM sent"
        " WHERE r.id = sent.recipient_id RETURNING r.id)"
    )
    if last:
        return sql(statement + " SELECT id FROM adv", params)
    return sql(
        statement + f" INSERT INTO {MESSAGES} (recipient_id, campaign_id, position, status, due_at, message_id,"
        " provider_message_id, subject, attempts, error_message, created_at, updated_at)"
        " SELECT id, %(campaign)s, %(position)s + 1, 'pending', now() + interval '1 day', '', '', '', 0, '', now(),"
        " now() FROM adv",
        params,
    )


def add_steps(campaign):
    from campaigns.models import CampaignStep, EmailTemplate

    follow = EmailTemplate.objects.create(name=f"{campaign.name} follow-up", subject="-", body_html=make_html())
    for position in (1, 2):
        CampaignStep.objects.create(
            campaign=campaign, position=position, delay=timedelta(days=1), template=follow, condition="always"
        )
    return follow


def start_worker(port):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + "x" * 40,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
    }
    log = open("/tmp/bench-steps-worker.log", "wb")
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "fliptech", "worker", "--pool=prefork", "-c1"),
            *(
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                "benchsteps@%h",
            ),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def phase(campaign, done, n) -> tuple[int, float]:
    """Queue the chain and wait until `done()` says the phase's messages are out."""
    from campaigns.tasks import send_campaign

    start = time.perf_counter()
    send_campaign.delay(campaign.pk)
    while not done():
        time.sleep(0.05)
    return n, time.perf_counter() - start


def explain_claim(campaign) -> str:
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import RecipientMessage

    qs = (
        RecipientMessage.objects.filter(campaign_id=campaign.pk, status="pending", due_at__lte=timezone.now())
        .order_by("due_at")
        .values_list("pk", flat=True)[:200]
    )
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_recipientmessage")  # as autovacuum would have by now
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join("    " + row[0] for row in cursor.fetchall())


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=20_000, help="messages sent through the worker per phase")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count

    from campaigns.models import CampaignRecipient, EmailTemplate, RecipientMessage
    from campaigns.sending import followups
    from campaigns.services import transition
    from fliptech.celery import app

    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        sys.exit("bench/steps.py needs PostgreSQL (DATABASE_URL)")
    n, real = args.recipients, min(args.real, args.recipients)
    port = free_port()
    sink = start_sink(port)
    run = "s" + str(int(time.time()))
    worker = None
    try:
        print(
            f"{n} recipients, 2 follow-up steps, {real} messages sent per phase (the rest fast-forwarded in SQL), "
            f"1 worker process, batch {settings.SEND_BATCH_SIZE}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()}",
            flush=True,
        )
        messages = prebuilt_messages(3000)
        before = ceiling(port, messages)
        made = time.perf_counter()
        campaign = setup_campaign(n, run)
        add_steps(campaign)
        forwarded = fast_forward_first(campaign, real)
        print(
            f"generated in SQL: {n} leads and recipients, {forwarded} first messages fast-forwarded "
            f"({time.perf_counter() - made:.1f} s)",
            flush=True,
        )
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")
        worker = start_worker(port)
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5) and time.monotonic() < deadline:
            pass
        time.sleep(1)
        transition(campaign=campaign, action="launch")
        recipients = CampaignRecipient.objects.filter(campaign=campaign)
        steps = RecipientMessage.objects.filter(campaign_id=campaign.pk)

        def first_done():
            return (
                not recipients.filter(status__in=["pending", "queued"]).exists()
                and not recipients.filter(status="sent", current_step__isnull=True).exists()
            )

        rates = {}
        sent, elapsed = phase(campaign, first_done, real)
        rates[0] = sent / elapsed
        print(
            f"first messages: {sent} in {elapsed:.1f} s = {rates[0]:.0f} msg/s; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )

        pending = steps.filter(position=1, status="pending").count()
        print(
            f"janitor tick with {pending} follow-ups pending (not due): stalled_campaign_ids "
            f"{timed(followups.stalled_campaign_ids):.1f} ms, catch_up {timed(followups.catch_up):.1f} ms",
            flush=True,
        )
        for position in (1, 2):
            due = make_due(campaign, position, real)
            if position == 1:
                print(
                    f"claim of due follow-ups, {due} due of {pending} pending (EXPLAIN ANALYZE):\n"
                    + explain_claim(campaign),
                    flush=True,
                )

            def step_done(position=position, due=due):
                return steps.filter(position=position).exclude(status__in=["pending", "queued"]).count() >= due

            sent, elapsed = phase(campaign, step_done, due)
            rates[position] = sent / elapsed
            print(
                f"step {position}: {sent} in {elapsed:.1f} s = {rates[position]:.0f} msg/s "
                f"({100 * rates[position] / rates[0]:.0f}% of the first messages' rate); "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            print(f"step {position}: {fast_forward_step(campaign, position)} more fast-forwarded in SQL", flush=True)
        after = ceiling(port, messages)
        print(f"ceiling (raw smtplib, pre-built, 1 connection): {before:.0f} before, {after:.0f} after msg/s")
        by_status = dict(steps.values_list("status").annotate(c=Count("id")))
        print(f"follow-up rows by status: {by_status} (expected {2 * n} sent)")
        by_worker = dict(
            steps.filter(status="sent")
            .exclude(message_id__startswith="<ff")
            .values_list("position")
            .annotate(c=Count("id"))
        )
        print(f"follow-ups sent by the worker, per step: {by_worker} (expected {real} each)")
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        drop_rows(run)
        cleanup(run)
        EmailTemplate.objects.filter(name__startswith=f"bench {run}").delete()
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
