"""Outgoing webhooks under load: what they cost the open pixel, and how fast one worker
process delivers a backlog — each beside its ceiling, measured in the same run.

    .venv/bin/python bench/webhooks.py [--seconds 15] [--connections 64] [--recipients 10000] [--pairs 2]
                                       [--deliveries 100000] [--port 19231] [--receiver-port 19232]

1. Pixel: a scratch PostgreSQL database `bench_webhooks` (migrated), one sent campaign of
   `--recipients` per run (every hit a first open), gunicorn (2 sync workers, DEBUG off) and
   wrk on `/t/o/<token>.gif` (bench/tracking.py's harness), `--pairs` pairs of runs without and
   with three active endpoints subscribed to `message.opened`, in ABBA order (without, with,
   with, without, …: a load drifting on a shared machine favours neither side). Each hit of a
   "with" run writes three delivery rows in its own statement (nobody drains them during the
   run). The figure is the median of the pairs' ratios (with / without, adjacent runs), which a
   load change between pairs does not move. Target: the pixel with webhooks ≥ 90 % of without.
2. Delivery: `--deliveries` pending deliveries inserted (one endpoint pointing at a local
   asyncio receiver, bench/_webhook_receiver.py, which checks every signature), then one
   process runs `webhooks.delivery.drain` until all are delivered. Its ceiling, in the same
   process just before: the same HTTP POSTs (same pool, threads, bodies) with no database.
   Target: ≥ 1,000 deliveries/s.

Needs `wrk`. The database is dropped at the end.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._cpu import children, cpu_seconds
from bench.tracking import PY, ROOT, env_for, line, no_loss, psql, run_wrk, start, stop

GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DB_NAME = "bench_webhooks"
SECRET = "bench-secret-0123456789abcdef"

SETUP = """
import json, sys
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from campaigns.models import Campaign, CampaignRecipient, EmailTemplate
n, runs = int(sys.argv[1]), int(sys.argv[2])
t = EmailTemplate.objects.create(name="bench", subject="s", body_html="<p>x</p>")
sent = timezone.now() - timedelta(hours=1)
out = []
for run in range(runs):
    c = Campaign.objects.create(name=f"bench {run}", template=t, status="running", started_at=timezone.now())
    CampaignRecipient.objects.bulk_create(
        [CampaignRecipient(campaign=c, email_address=f"r{i}@{run}.example", status="sent", sent_at=sent)
         for i in range(n)],
        batch_size=5000,
    )
    out.append(list(CampaignRecipient.objects.filter(campaign=c).values_list("token", flat=True)))
print(json.dumps(out))
"""

DRAIN = """
import json, sys, time
import django
django.setup()
from webhooks import delivery, urls_safe
from webhooks.models import WebhookDelivery

url, n_ceiling = sys.argv[1], int(sys.argv[2])
# Ceiling: the same POSTs with no database — bodies and headers built from real rows.
sample = list(WebhookDelivery.objects.select_related("endpoint", "campaign", "recipient")[:500])
from webhooks import payloads
jobs = [(payloads.body_of(d), payloads.headers_of(d, payloads.body_of(d))) for d in sample]
target = urls_safe.resolve(url)
pool = delivery._executor_()
started = time.monotonic()
codes = list(pool.map(lambda i: delivery.post(target, *jobs[i % len(jobs)])[0], range(n_ceiling)))
ceiling = n_ceiling / (time.monotonic() - started)
assert all(c == 200 for c in codes), set(codes)
total = WebhookDelivery.objects.filter(status="pending").count()
started = time.monotonic()
delivered = 0
while delivered < total:
    delivered += delivery.drain(budget_seconds=60)["delivered"]
elapsed = time.monotonic() - started
print(json.dumps({"ceiling": ceiling, "delivered": delivered, "seconds": elapsed}))
"""


def pixel_cpu_seconds(app):
    """CPU seconds so far of the pixel's own processes: gunicorn's workers and the PostgreSQL
    backends serving this database, so the cost of the webhooks shows through the load."""
    backends = psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB_NAME}' AND pid <> pg_backend_pid()")
    return cpu_seconds(*children(app.pid), *(r[0] for r in backends))


def endpoints(n, url="http://127.0.0.1:9/hook"):
    psql("DELETE FROM webhooks_webhookendpoint", DB_NAME)
    for i in range(n):
        psql(
            "INSERT INTO webhooks_webhookendpoint (url, events, secret, active, description, created_at, updated_at) "
            f"VALUES ('{url}/{i}', '[\"message.opened\"]', '{SECRET}', true, '', now(), now())",
            DB_NAME,
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--recipients", type=int, default=10_000)
    ap.add_argument(
        "--pairs", type=int, default=2, help="runs without/with (ABBA order); the median pair ratio is the figure"
    )
    ap.add_argument("--deliveries", type=int, default=100_000)
    ap.add_argument("--port", type=int, default=19231)
    ap.add_argument("--receiver-port", type=int, default=19232)
    args = ap.parse_args()

    psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB_NAME}")
    env = {**env_for(DB_NAME), "WEBHOOKS_ALLOW_PRIVATE": "1"}
    procs = []
    try:
        subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        tokens = json.loads(
            subprocess.run(
                [PY, "-c", SETUP, str(args.recipients), str(2 * args.pairs)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        psql("VACUUM ANALYZE", DB_NAME)
        psql("CHECKPOINT", DB_NAME)
        print(
            f"machine: {os.cpu_count()} cores, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"{args.connections} connections, {args.seconds} s per run; gunicorn 2 sync workers; PostgreSQL"
        )

        # --- 1. the pixel, without and with three subscribed endpoints -------------------
        port = args.port
        app = start(
            [GUNICORN, "fliptech.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"],
            env,
            f"http://127.0.0.1:{port}/t/o/warmup.gif",
        )
        procs.append(app)
        runs = []
        # ABBA: without, with, with, without, … so a drifting load favours neither side.
        order = [hooks for p in range(args.pairs) for hooks in ((0, 3) if p % 2 == 0 else (3, 0))]
        for i, hooks in enumerate(order):
            endpoints(hooks)
            before = psql("SELECT count(*) FROM tracking_emailtracking", DB_NAME)[0][0]
            cpu_before = pixel_cpu_seconds(app)
            stats = run_wrk(port, [f"/t/o/{t}.gif" for t in tokens[i]], args.seconds, args.connections)
            time.sleep(1)
            stats["recorded"] = psql("SELECT count(*) FROM tracking_emailtracking", DB_NAME)[0][0] - before
            stats["cpu_us"] = 1e6 * (pixel_cpu_seconds(app) - cpu_before) / max(stats["recorded"], 1)
            runs.append((hooks, stats))
            print(
                line(f"pixel, {hooks} webhooks (run {i + 1})", stats, stats["recorded"]),
                f" CPU {stats['cpu_us']:.0f} µs/hit",
            )
        stop(app)
        procs.remove(app)
        queued = psql("SELECT count(*) FROM webhooks_webhookdelivery", DB_NAME)[0][0]
        with_hooks = [s for h, s in runs if h]
        without = [s for h, s in runs if not h]
        rate_with = sum(s["rps"] for s in with_hooks) / len(with_hooks)
        rate_without = sum(s["rps"] for s in without) / len(without)
        pair_ratios = sorted(
            next(s["rps"] for h, s in runs[2 * p : 2 * p + 2] if h)
            / next(s["rps"] for h, s in runs[2 * p : 2 * p + 2] if not h)
            for p in range(args.pairs)
        )
        ratio = statistics.median(pair_ratios)
        expected = 3 * sum(s["recorded"] for s in with_hooks)
        cpu_with = statistics.median(s["cpu_us"] for s in with_hooks)
        cpu_without = statistics.median(s["cpu_us"] for s in without)
        print(
            f"CPU per hit (gunicorn workers + their PostgreSQL backends, median of runs): {cpu_without:.0f} µs without,"
            f" {cpu_with:.0f} µs with 3 webhooks → the pixel's CPU-bound rate with them is {100 * cpu_without / cpu_with:.1f}%"
            " of without (target ≥ 90%)"
        )
        print(f"pair ratios (with / without, sorted): {', '.join(f'{100 * r:.0f}%' for r in pair_ratios)}")
        print(
            f"pixel with 3 webhooks: mean {rate_with:.0f} req/s vs {rate_without:.0f} without; median pair ratio {100 * ratio:.1f}% "
            f"(target ≥ 90%) → {'PASS' if ratio >= 0.9 else 'MISS'}; deliveries queued {queued} "
            f"(3 per recorded open: {expected}{', exact' if queued == expected else ', MISMATCH'})"
        )
        assert all(no_loss(s, s["recorded"]) for _, s in runs)

        # --- 2. one worker process drains a backlog ---------------------------------------
        receiver = subprocess.Popen(
            [PY, "bench/_webhook_receiver.py", str(args.receiver_port)],
            cwd=ROOT,
            env={**env, "SECRET": SECRET},
            start_new_session=True,
        )
        procs.append(receiver)
        url = f"http://127.0.0.1:{args.receiver_port}/hooks"
        time.sleep(1)
        psql("TRUNCATE webhooks_webhookdelivery", DB_NAME)
        endpoints(1, url)
        psql(
            "INSERT INTO webhooks_webhookdelivery (endpoint_id, event_id, type, campaign_id, recipient_id, url, extra,"
            " status, attempts, next_attempt_at, last_error, created_at)"
            " SELECT e.id, 'evt_' || md5(g::text), 'message.opened', r.campaign_id, r.id, '', '{}', 'pending', 0, now(),"
            " '', now() FROM webhooks_webhookendpoint e,"
            f" generate_series(1, {args.deliveries}) g"
            " JOIN campaigns_campaignrecipient r ON r.id = 1 + (g % 1000)",
            DB_NAME,
        )
        psql("VACUUM ANALYZE webhooks_webhookdelivery", DB_NAME)
        out = subprocess.run(
            [PY, "-c", DRAIN, url, str(min(args.deliveries, 30_000))],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        received = json.loads(urllib.request.urlopen(f"{url.rsplit('/', 1)[0]}/stats", timeout=5).read())
        rate = result["delivered"] / result["seconds"]
        left = psql("SELECT count(*) FROM webhooks_webhookdelivery WHERE status <> 'delivered'", DB_NAME)[0][0]
        print(
            f"drain, 1 process: {result['delivered']} deliveries in {result['seconds']:.1f} s = {rate:.0f}/s "
            f"(target ≥ 1000/s) → {'PASS' if rate >= 1000 else 'MISS'}; not delivered {left}"
        )
        print(
            f"ceiling, the same POSTs without the database: {result['ceiling']:.0f}/s ({100 * rate / result['ceiling']:.0f}% of it)"
        )
        print(f"receiver: {received['ok']} signatures valid, {received['bad']} invalid")
        print(f"load at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    finally:
        for p in procs:
            stop(p)
        psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
