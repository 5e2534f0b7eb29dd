"""Tracking paths under load: the open pixel and the click redirect, beside the ceiling.

    .venv/bin/python bench/tracking.py [--seconds 20] [--connections 64] [--recipients 10000]

What it does, all on PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/):
1. creates a scratch database `bench_tracking`, migrates it, and adds a sent campaign of
   `--recipients` recipients and ten tracked links per path (a fresh campaign each for the
   pixel and the click runs; clicks rotate over the links);
2. starts gunicorn (2 sync workers, DEBUG off) on the project and runs wrk with 64
   connections for 20 s on `/t/o/<token>.gif` (tokens rotate), then on `/t/c/<token>/<link>`;
3. runs the ceiling the same way, before and after the Django runs (averaged, since the machine
   is shared): a bare WSGI app (bench/_ceiling_app.py) answering the same GIF with one INSERT
   per hit; and once without the INSERT;
4. prints requests/s, p50/p99 latency, errors, and the events recorded against the hits:
   answered (responses wrk read) ≤ events ≤ written (wrk's Lua `request()` counts every
   request written, including those still in flight when the run stops, which the server
   still handles and records).

Needs `wrk` (Debian: `apt-get install -y wrk`). The database is dropped at the end.
"""

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DB_NAME = "bench_tracking"
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15"
)

LUA = r"""
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local threads = {}
local i = 0
sent = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  i = tonumber(wrk.thread:get("id")) * 7919
end
request = function()
  i = i + 1
  sent = sent + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("sent") end
  io.write(string.format("BENCH_JSON {\"sent\": %d, \"completed\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f, " ..
    "\"duration_s\": %.3f, \"connect\": %d, \"read\": %d, \"write\": %d, \"timeout\": %d, \"status\": %d}\n",
    total, summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.duration / 1e6, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
end
"""


def base_url():
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    return re.sub(r"/[^/]*$", "", url)


def psql(sql, db="postgres"):
    import psycopg

    with psycopg.connect(f"{base_url()}/{db}", autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else None


def env_for(db):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"{base_url()}/{db}",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        DB_CONN_MAX_AGE="600",
        FLIPTECH_VAR_DIR=env.get("FLIPTECH_VAR_DIR", tempfile.mkdtemp(prefix="bench_tracking_")),
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="fliptech.settings",
    )
    env.pop("DATABASE_TEST_NAME", None)
    return env


SETUP = """
import json, sys
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from campaigns.models import Campaign, CampaignLink, CampaignRecipient, EmailTemplate
n = int(sys.argv[1])
t = EmailTemplate.objects.create(name="bench", subject="s", body_html="<p>x</p>")
sent = timezone.now() - timedelta(hours=1)
out = {}
for kind in ("open", "click"):  # each path gets a fresh campaign of its own
    c = Campaign.objects.create(name=f"bench {kind}", template=t, status="running", started_at=timezone.now())
    out[f"{kind}_links"] = [
        CampaignLink.objects.create(campaign=c, url=f"https://fliptech.example/offer/{j}").pk for j in range(10)
    ]
    CampaignRecipient.objects.bulk_create(
        [CampaignRecipient(campaign=c, email_address=f"r{i}@{kind}.example", status="sent", sent_at=sent)
         for i in range(n)],
        batch_size=5000,
    )
    out[f"{kind}_tokens"] = list(CampaignRecipient.objects.filter(campaign=c).values_list("token", flat=True))
print(json.dumps(out))
"""


def wait_up(url, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"server did not come up at {url}")


def start(cmd, env, url):
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    wait_up(url, proc)
    return proc


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_wrk(port, paths, seconds, connections):
    with (
        tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua,
        tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as plist,
    ):
        lua.write(LUA)
        plist.write("\n".join(paths) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            "-s",
            lua.name,
            "-H",
            f"User-Agent: {UA}",
            f"http://127.0.0.1:{port}/",
        ],
        env={**os.environ, "BENCH_PATHS": plist.name},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(lua.name)
    os.unlink(plist.name)
    stats = json.loads(out.split("BENCH_JSON ", 1)[1].splitlines()[0])
    stats["rps"] = stats["completed"] / stats["duration_s"]
    stats["errors"] = sum(stats[k] for k in ("connect", "read", "write", "timeout", "status"))
    return stats


def no_loss(s, recorded):
    """Every answered hit is an event, and no event without a request: answered ≤ events ≤
    written (requests still in flight when wrk stops are written, handled by the server,
    but not counted as answered by wrk)."""
    return s["completed"] <= recorded <= s["sent"]


def line(name, s, recorded=None):
    extra = ""
    if recorded is not None:
        extra = (
            f"  events {recorded} for {s['completed']} answered / {s['sent']} written "
            f"({'none lost' if no_loss(s, recorded) else 'LOST OR EXTRA'})"
        )
    return (
        f"{name:<34} {s['rps']:8.0f} req/s  p50 {s['p50_ms']:6.2f} ms  p99 {s['p99_ms']:6.2f} ms  "
        f"errors {s['errors']}{extra}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--recipients", type=int, default=10_000)
    ap.add_argument("--port", type=int, default=18431)
    args = ap.parse_args()

    psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB_NAME}")
    env = env_for(DB_NAME)
    procs = []
    try:
        subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        data = json.loads(
            subprocess.run(
                [PY, "-c", SETUP, str(args.recipients)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        tokens, links = data["click_tokens"], data["click_links"]
        psql(
            "CREATE TABLE bench_ceiling_hit (id bigserial PRIMARY KEY, token text NOT NULL, "
            "user_agent text NOT NULL, ip_address inet, created_at timestamptz NOT NULL DEFAULT now())",
            DB_NAME,
        )

        psql("VACUUM ANALYZE", DB_NAME)
        psql("CHECKPOINT", DB_NAME)

        def events(kind):
            return psql(f"SELECT count(*) FROM tracking_emailtracking WHERE event_type = '{kind}'", DB_NAME)[0][0]

        results = {}
        port = args.port
        print(
            f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.connections} connections, "
            f"{args.seconds} s per run; gunicorn 2 sync workers; PostgreSQL"
        )

        def ceiling_run(name, insert):
            ceiling = start(
                [GUNICORN, "bench._ceiling_app:app", "-w", "2", "-b", f"127.0.0.1:{port}"],
                {**env, "CEILING_DSN": f"{base_url()}/{DB_NAME}", "CEILING_INSERT": insert},
                f"http://127.0.0.1:{port}/t/o/warmup.gif",
            )
            procs.append(ceiling)
            results[name] = run_wrk(port, [f"/t/o/{t}.gif" for t in tokens], args.seconds, args.connections)
            time.sleep(1)
            stop(ceiling)
            procs.remove(ceiling)

        # The machine is shared: the ceiling runs before and after the Django runs and the
        # two are averaged, so a load change during the run does not favour either side.
        ceiling_run("ceiling_before", "1")
        app = start(
            [GUNICORN, "fliptech.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"],
            env,
            f"http://127.0.0.1:{port}/t/o/warmup.gif",
        )
        procs.append(app)
        results["pixel"] = run_wrk(port, [f"/t/o/{t}.gif" for t in data["open_tokens"]], args.seconds, args.connections)
        time.sleep(1)
        results["pixel_recorded"] = events("open")
        results["click"] = run_wrk(
            port, [f"/t/c/{t}/{links[i % len(links)]}" for i, t in enumerate(tokens)], args.seconds, args.connections
        )
        time.sleep(1)
        results["click_recorded"] = events("click")
        stop(app)
        procs.remove(app)
        ceiling_run("ceiling_after", "1")
        ceiling_run("ceiling_no_db", "0")
        ceiling_recorded = psql("SELECT count(*) FROM bench_ceiling_hit WHERE token <> 'warmup'", DB_NAME)[0][0]
        before, after = results["ceiling_before"], results["ceiling_after"]
        combined = {k: before[k] + after[k] for k in ("sent", "completed")}

        ceiling_rps = (before["rps"] + after["rps"]) / 2
        print(line("pixel  /t/o/<token>.gif (Django)", results["pixel"], results["pixel_recorded"]))
        print(line("click  /t/c/<token>/<link> (Django)", results["click"], results["click_recorded"]))
        print(line("ceiling before: WSGI GIF + 1 INSERT", before))
        print(line("ceiling after:  WSGI GIF + 1 INSERT", after))
        print(
            f"ceiling (mean) {ceiling_rps:.0f} req/s; its events {ceiling_recorded} for {combined['completed']} "
            f"answered / {combined['sent']} written ({'none lost' if no_loss(combined, ceiling_recorded) else 'LOST'})"
        )
        print(line("bare WSGI GIF, no database", results["ceiling_no_db"]))
        for kind in ("pixel", "click"):
            r = results[kind]
            ok = (
                r["rps"] >= 0.6 * ceiling_rps
                and r["p99_ms"] < 50
                and r["errors"] == 0
                and no_loss(r, results[f"{kind}_recorded"])
            )
            print(
                f"{kind}: {100 * r['rps'] / ceiling_rps:.0f}% of ceiling (target ≥ 60%), "
                f"p99 {r['p99_ms']:.1f} ms (target < 50) → {'PASS' if ok else 'MISS'}"
            )
        # The machine may be shared: the load at the end says whether it changed during the run.
        print(f"load at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    finally:
        for p in procs:
            stop(p)
        psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
