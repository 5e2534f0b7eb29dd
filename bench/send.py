"""Sending throughput: a 10,000-recipient campaign (20 KB HTML, 5 personalised fields, 10
links) through 1 and 2 worker processes to Postfix's `smtp-sink`, beside the ceiling: a raw
smtplib loop sending pre-built messages of the same size over one connection to the same sink.

    DATABASE_URL=postgres://… CELERY_BROKER_URL=redis://… .venv/bin/python bench/send.py

Needs `smtp-sink` (Debian package `postfix`; postfix itself stays unconfigured and stopped).
Uses the configured database and broker; its leads (…@bench.invalid) and campaigns are
deleted afterwards. Options: --recipients N (10000), --workers 1,2, --repeat N, --pool prefork,
--compare-budget (each run twice, with the render budget and without it: the workers then get
FLIPTECH_BENCH_NO_RENDER_BUDGET=1, which compiles templates unguarded — for measuring only;
beside the rates it prints the worker's CPU time per message, which a busy machine barely moves).
"""

import argparse
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._cpu import cpu_seconds  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")
os.environ.setdefault("DEBUG", "1")  # a development run: the settings default to DEBUG off

LINKS = [f"https://fliptech.example/listings/{i}?utm_source=mail&amp;utm_campaign=bench" for i in range(10)]
PARAGRAPH = (
    "FlipTech Pro helps property managers, contractors and agents find new work every week. "
    "Our team reviewed the latest listings in your area and picked the ones that match what you do. "
)


def make_html() -> str:
    """~20 KB of email HTML: a style block, a table layout, 5 personalised fields, 10 links."""
    cards = []
    for i, url in enumerate(LINKS):
        body = f"<p>{PARAGRAPH * 4}</p><p>{PARAGRAPH * 3}</p><p>{PARAGRAPH * 3}</p>"
        cards.append(
            f'<tr><td class="card"><h2 class="title">Listing {i + 1} near {{{{ lead.city }}}}</h2>{body}'
            f'<p><a class="button" href="{url}">See listing {i + 1}</a></p></td></tr>'
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>New listings</title><style>'
        "body{margin:0;padding:0;background:#f4f4f4;font-family:Arial,sans-serif}"
        ".wrap{width:600px;margin:0 auto;background:#ffffff}"
        ".card{padding:16px 24px;border-bottom:1px solid #eeeeee;color:#333333;font-size:14px;line-height:20px}"
        ".title{font-size:18px;color:#111111;margin:0 0 8px 0}"
        ".button{display:inline-block;padding:8px 16px;background:#0b5fff;color:#ffffff;text-decoration:none}"
        ".foot{padding:16px 24px;color:#888888;font-size:12px}"
        '</style></head><body><table class="wrap" role="presentation">'
        '<tr><td class="card"><h1 class="title">Hi {{ lead.first_name }} {{ lead.last_name }},</h1>'
        "<p>Here are this week's picks for {{ lead.company }} in {{ lead.city }}, starting with "
        "{{ lead.attributes.listing }}.</p></td></tr>"
        + "".join(cards)
        + '<tr><td class="foot">You get this because you asked about FlipTech Pro. '
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a></td></tr></table></body></html>'
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink(port):
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.path.exists(sink):
        sys.exit("smtp-sink not found: apt-get install postfix (it stays stopped)")
    proc = subprocess.Popen(
        [sink, "-u", "nobody", f"127.0.0.1:{port}", "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    sys.exit("smtp-sink did not start")


def ceiling(port, messages) -> float:
    """Raw smtplib over one connection, messages built beforehand: the sink's pace here."""
    conn = smtplib.SMTP("127.0.0.1", port)
    start = time.perf_counter()
    for to, data in messages:
        conn.sendmail("news@fliptech.example", [to], data)
    elapsed = time.perf_counter() - start
    conn.quit()
    return len(messages) / elapsed


def setup_campaign(n, run):
    from campaigns.models import Campaign, CampaignRecipient, EmailTemplate, Lead

    template = EmailTemplate.objects.create(
        name=f"bench {run}", subject="{{ lead.first_name }}, new listings in {{ lead.city }}", body_html=make_html()
    )
    campaign = Campaign.objects.create(
        name=f"bench {run}",
        template=template,
        from_email="news@fliptech.example",
        from_name="FlipTech",
    )
    leads = Lead.objects.bulk_create(
        Lead(
            email=f"b{run}.{i}@bench.invalid",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            company=f"Company {i}",
            city="Austin",
            attributes={"listing": f"{i % 5 + 1}BR apartment"},
        )
        for i in range(n)
    )
    CampaignRecipient.objects.bulk_create(
        (
            CampaignRecipient(
                campaign=campaign,
                lead=lead,
                email_address=lead.email,
                first_name=lead.first_name,
                last_name=lead.last_name,
            )
            for lead in leads
        ),
        batch_size=2000,
    )
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    return campaign


def cleanup(run):
    from campaigns.models import Campaign, EmailTemplate, Lead

    Campaign.all_objects.filter(name=f"bench {run}").delete()
    EmailTemplate.objects.filter(name=f"bench {run}").delete()
    Lead.objects.filter(email__startswith=f"b{run}.", email__endswith="@bench.invalid").delete()


def prebuilt_messages(n):
    """Messages as our sender builds them (same size), for the ceiling loop."""
    from campaigns import rendering, sending

    compiled = rendering.compile_message(subject="Hi {{ lead.first_name }}", body_html=make_html())
    parts = compiled.render(
        rendering.context_for(
            lead=rendering.lead_data(), campaign=rendering.campaign_data(), unsubscribe=rendering.unsubscribe_url("t")
        )
    )
    sender = sending.Sender(
        envelope="news@fliptech.example", from_header="FlipTech <news@fliptech.example>", reply_to=""
    )
    out = []
    for i in range(n):
        to = f"c{i}@bench.invalid"
        msg = sending.Outgoing(
            recipient_id=i,
            token="t",
            to=to,
            message_id=f"<{i}.bench@fliptech.example>",
            subject=parts["subject"],
            html=parts["html"],
            text=parts["text"],
            headers=sending.list_unsubscribe_headers("t"),
        )
        out.append((to, sending.build_mime(msg, sender)))
    return out


def run_workers(campaign, processes, port, pool, extra_env=None):
    from campaigns.models import Campaign, CampaignRecipient
    from campaigns.services import transition
    from campaigns.tasks import send_campaign
    from fliptech.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    # Production settings for the worker: DEBUG off (no query log kept per statement).
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + "x" * 40,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        **(extra_env or {}),
    }
    log = open(f"/tmp/bench-send-worker-{processes}.log", "wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "fliptech",
            "worker",
            f"--pool={pool}",
            f"-c{processes}",
            f"--loglevel={env['LOG_LEVEL']}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench{processes}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5) and time.monotonic() < deadline:
            pass
        time.sleep(1)  # let every pool process come up
        transition(campaign=campaign, action="launch")
        cpu_before = cpu_seconds(worker.pid)
        start = time.perf_counter()
        send_campaign.delay(campaign.pk)
        while Campaign.all_objects.values_list("status", flat=True).get(pk=campaign.pk) == "running":
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(worker.pid) - cpu_before
        sent = CampaignRecipient.objects.filter(campaign=campaign, status="sent").count()
        return sent, elapsed, cpu
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count")
    parser.add_argument("--compare-budget", action="store_true", help="each run with and without the render budget")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    port = free_port()
    sink = start_sink(port)
    run = str(int(time.time()))
    try:
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print(
            f"database {db}, broker {settings.CELERY_BROKER_URL.split(':')[0]}, "
            f"batch {settings.SEND_BATCH_SIZE}, {os.cpu_count()} cores, sink smtp-sink 127.0.0.1:{port}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        messages = prebuilt_messages(min(args.recipients, 3000))
        size = sum(len(d) for _, d in messages) / len(messages)
        print(f"message size {size / 1024:.1f} KB (HTML template {len(make_html()) / 1024:.1f} KB)")
        # The ceiling is measured right before and right after each run (the machine may be
        # shared), and each run is compared with the mean of the two.
        budgets = [("budget on", {}), ("budget off", {"FLIPTECH_BENCH_NO_RENDER_BUDGET": "1"})]
        cpu_per_message = {}
        for processes in [int(p) for p in args.workers.split(",")]:
            for attempt, (budget, extra_env) in enumerate(
                b for _ in range(args.repeat) for b in (budgets if args.compare_budget else budgets[:1])
            ):
                before = ceiling(port, messages)
                campaign = setup_campaign(args.recipients, f"{run}{processes}{attempt}")
                try:
                    sent, elapsed, cpu = run_workers(campaign, processes, port, args.pool, extra_env)
                finally:
                    cleanup(f"{run}{processes}{attempt}")
                after = ceiling(port, messages)
                ceil = (before + after) / 2
                rate = sent / elapsed
                label = (
                    f"1 worker process, {processes} threads"
                    if args.pool == "threads"
                    else f"{processes} worker process(es)"
                )
                if args.compare_budget:
                    label += f", {budget}"
                print(
                    f"{label}: {sent} sent in {elapsed:5.1f} s = {rate:5.0f} msg/s; "
                    f"ceiling (raw smtplib, pre-built, 1 connection) {before:.0f}/{after:.0f} msg/s → "
                    f"{100 * rate / ceil:.0f}% of it; worker CPU {1e6 * cpu / max(sent, 1):.0f} µs/message; "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                cpu_per_message.setdefault(budget, []).append(cpu / max(sent, 1))
        if args.compare_budget:
            on, off = (min(cpu_per_message[b]) for b in ("budget on", "budget off"))
            print(
                f"worker CPU per message (the lowest run of each): budget on {1e6 * on:.0f} µs, off {1e6 * off:.0f} µs "
                f"→ the budget costs {100 * (on - off) / on:+.1f}% of a CPU-bound worker's rate (target < 5%)"
            )
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
