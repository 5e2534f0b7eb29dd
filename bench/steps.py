"""Follow-up steps at scale: a campaign (100,000 recipients by default) with two follow-up
steps on PostgreSQL, one worker process, to Postfix's `smtp-sink`. Prints, in the same run:

- the per-worker rate of the first messages, then of step 1 and of step 2 (each phase starts
  when the previous one is over: the steps' delay is a day, and the bench moves their due
  time to "now" with one UPDATE, as the clock would) — the steps should be within 10 % of
  the first messages;
- the ceiling (raw smtplib, pre-built messages, one connection) before and after;
- how due steps are found: the claim's plan (an index scan of `message_claim`, no sort, no
  scan of the recipients; tests/steps pins it as the one query of a batch that finds due
  rows); the janitor's per-tick queries (`followups.stalled_campaign_ids`,
  `followups.catch_up`) timed with 100,000 pending follow-ups in the table.

    DATABASE_URL=postgres://… CELERY_BROKER_URL=redis://… .venv/bin/python bench/steps.py

Options: --recipients N (100000). Its leads (…@bench.invalid) and campaigns are deleted afterwards.
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

from bench.send import ceiling, cleanup, free_port, make_html, prebuilt_messages, setup_campaign, start_sink  # noqa: E402


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
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from campaigns.models import CampaignRecipient, EmailTemplate, RecipientMessage
    from campaigns.sending import followups
    from campaigns.services import transition
    from fliptech.celery import app

    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        sys.exit("bench/steps.py needs PostgreSQL (DATABASE_URL)")
    n = args.recipients
    port = free_port()
    sink = start_sink(port)
    run = "s" + str(int(time.time()))
    worker = None
    try:
        print(
            f"{n} recipients, 2 follow-up steps, 1 worker process, batch {settings.SEND_BATCH_SIZE}, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()}"
        )
        messages = prebuilt_messages(3000)
        before = ceiling(port, messages)
        campaign = setup_campaign(n, run)
        add_steps(campaign)
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
        sent, elapsed = phase(campaign, first_done, n)
        rates[0] = sent / elapsed
        print(
            f"first messages: {sent} in {elapsed:.1f} s = {rates[0]:.0f} msg/s; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )

        pending = steps.filter(position=1, status="pending").count()
        print(
            f"janitor tick with {pending} follow-ups pending (not due): stalled_campaign_ids "
            f"{timed(followups.stalled_campaign_ids):.1f} ms, catch_up {timed(followups.catch_up):.1f} ms"
        )
        for position in (1, 2):
            steps.filter(position=position, status="pending").update(due_at=timezone.now())
            if position == 1:
                print("claim of due follow-ups (EXPLAIN ANALYZE):\n" + explain_claim(campaign))

            def step_done(position=position):
                return not steps.filter(position=position, status__in=["pending", "queued"]).exists()

            count = steps.filter(position=position).count()
            sent, elapsed = phase(campaign, step_done, count)
            rates[position] = sent / elapsed
            print(
                f"step {position}: {sent} in {elapsed:.1f} s = {rates[position]:.0f} msg/s "
                f"({100 * rates[position] / rates[0]:.0f}% of the first messages' rate); "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        after = ceiling(port, messages)
        print(f"ceiling (raw smtplib, pre-built, 1 connection): {before:.0f} before, {after:.0f} after msg/s")
        sent_steps = steps.filter(status="sent").count()
        print(
            f"follow-ups sent: {sent_steps} (expected {2 * n}); campaign "
            f"{type(campaign).all_objects.values_list('status', flat=True).get(pk=campaign.pk)}"
        )
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        cleanup(run)
        EmailTemplate.objects.filter(name__startswith=f"bench {run}").delete()
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
