"""Inbound replies under load: 1,000 replies posted to the Postmark inbound webhook by 16
concurrent clients (keep-alive, one connection each), against gunicorn (2 sync workers,
DEBUG off) on the configured PostgreSQL, beside two ceilings measured in the same run with
the same clients and bodies: a bare WSGI app that answers 200 with one INSERT per request
(bench/_ceiling_app.py's pattern, no Django), and the same webhook URL through Django and
anymail — its basic auth, Postmark's payload parsing and our reading of the message — with
nothing matched or stored (bench/_inbound_parse_ceiling.py). Prints requests/s,
p50/p95/p99, the SQL statements of one reply, and checks that every reply was stored once
and matched to the recipient it answered.

    DATABASE_URL=postgres://… .venv/bin/python bench/inbound.py [--replies 1000] [--clients 16]

Its campaign and leads (…@bench.invalid) are deleted afterwards. Each server gets 32 warm-up
posts first (for the webhook: replies to a message never sent, which store nothing).
"""

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
SECRET = "bench:inbound-secret"

CEILING_APP = """
import os, psycopg
_conn = None
def app(environ, start_response):
    global _conn
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if _conn is None:
        _conn = psycopg.connect(os.environ["CEILING_DSN"], autocommit=True)
    _conn.execute("INSERT INTO bench_inbound_ceiling (body) VALUES (%s)", [body.decode()])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payload(i, message_id):
    return json.dumps(
        {
            "FromFull": {"Email": f"lead{i}@bench.invalid", "Name": f"Lead {i}", "MailboxHash": ""},
            "ToFull": [{"Email": "news@fliptech.example", "Name": "", "MailboxHash": ""}],
            "Subject": "Re: New listings",
            "MessageID": f"pm-{i}",
            "Date": "Mon, 30 Nov 2026 18:31:04 -0700",
            "TextBody": f"Interested, call me ({i}).\n\nOn Mon, Nov 30, 2026 FlipTech wrote:\n> Hi",
            "StrippedTextReply": f"Interested, call me ({i}).",
            "Headers": [
                {"Name": "Message-ID", "Value": f"<bench-reply-{i}@bench.invalid>"},
                {"Name": "In-Reply-To", "Value": message_id},
                {"Name": "References", "Value": message_id},
            ],
        }
    ).encode()


def serve(args, env, port):
    proc = subprocess.Popen(
        [GUNICORN, *args, "-w", "2", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open("/tmp/bench-inbound-gunicorn.log", "ab"),
        start_new_session=True,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    sys.exit("gunicorn did not start")


def blast(port, path, bodies, clients) -> tuple[list, int, float]:
    """POST every body with `clients` concurrent keep-alive connections: (latencies, errors, seconds)."""
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    local = threading.local()
    errors = []

    def post(body):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start = time.perf_counter()
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json", "Authorization": auth})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
        except OSError as exc:
            errors.append(repr(exc))
            local.conn = None
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(post, bodies))
    return latencies, len(errors), time.perf_counter() - start


def report(label, latencies, errors, seconds):
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{label}: {len(latencies)} posts in {seconds:.1f} s = {len(latencies) / seconds:.0f}/s; "
        f"p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms; errors {errors}; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return q[98]


def statements_of_one_reply(recipient) -> int:
    """Post one more reply through Django's test client in this process and count its SQL."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    body = json.loads(payload("extra", recipient.message_id))
    body["Headers"][0]["Value"] = "<bench-reply-extra-2@bench.invalid>"
    with CaptureQueriesContext(connection) as queries:
        Client(HTTP_HOST="localhost").post(
            "/anymail/postmark/inbound/", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth
        )
    return len(queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    import django

    os.environ["ANYMAIL_WEBHOOK_SECRET"] = SECRET  # for the one reply posted in this process
    django.setup()
    from django.conf import settings
    from django.db import connection

    from campaigns.models import Campaign, CampaignRecipient, EmailTemplate, Lead
    from tracking.models import Reply

    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        sys.exit("bench/inbound.py needs PostgreSQL (DATABASE_URL)")
    run = str(int(time.time()))
    template = EmailTemplate.objects.create(name=f"bench inbound {run}", subject="New listings", body_html="<p>x</p>")
    campaign = Campaign.objects.create(name=f"bench inbound {run}", template=template, status="running")
    leads = Lead.objects.bulk_create(Lead(email=f"in{run}.{i}@bench.invalid") for i in range(args.replies))
    recipients = CampaignRecipient.objects.bulk_create(
        CampaignRecipient(
            campaign=campaign,
            lead=lead,
            email_address=lead.email,
            status="sent",
            sent_at=campaign.created_at,
            message_id=f"<{run}.{i}.bench@fliptech.example>",
        )
        for i, lead in enumerate(leads)
    )
    bodies = [payload(i, r.message_id) for i, r in enumerate(recipients)]
    db = settings.DATABASES["default"]
    dsn = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        dsn = dsn.replace("@", f":{db['PASSWORD']}@", 1)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_inbound_ceiling (id bigserial PRIMARY KEY, body text)")
    (ROOT / "bench" / "_inbound_ceiling_app.py").write_text(CEILING_APP)
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ANYMAIL_WEBHOOK_SECRET": SECRET,
        "CEILING_DSN": dsn,
        "LOG_LEVEL": "WARNING",
    }
    try:
        print(
            f"{args.replies} replies, {args.clients} clients, gunicorn 2 sync workers, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()}"
        )
        port = free_port()
        ceiling = serve(["bench._inbound_ceiling_app:app"], env, port)
        try:
            blast(port, "/", bodies[:32], args.clients)
            ceil_before = report("ceiling before (bare WSGI + 1 INSERT)", *blast(port, "/", bodies, args.clients))
        finally:
            os.killpg(ceiling.pid, signal.SIGTERM)
            ceiling.wait()
        port = free_port()
        parse_only = serve(["bench._inbound_parse_ceiling:application"], env, port)
        try:
            blast(port, "/anymail/postmark/inbound/", [payload(f"w{i}", "<never@x>") for i in range(32)], args.clients)
            ceil_parse = report(
                "ceiling: the webhook's auth + parsing, nothing stored",
                *blast(port, "/anymail/postmark/inbound/", bodies, args.clients),
            )
        finally:
            os.killpg(parse_only.pid, signal.SIGTERM)
            parse_only.wait()
        port = free_port()
        web = serve(["fliptech.wsgi"], env, port)
        try:
            # Warm-up: replies to a message never sent (each worker loads its code; nothing stored).
            blast(port, "/anymail/postmark/inbound/", [payload(f"w{i}", "<never@x>") for i in range(32)], args.clients)
            p99 = report("inbound webhook", *blast(port, "/anymail/postmark/inbound/", bodies, args.clients))
        finally:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait()
        port = free_port()
        ceiling = serve(["bench._inbound_ceiling_app:app"], env, port)
        try:
            blast(port, "/", bodies[:32], args.clients)
            ceil_after = report("ceiling after", *blast(port, "/", bodies, args.clients))
        finally:
            os.killpg(ceiling.pid, signal.SIGTERM)
            ceiling.wait()
        stored = Reply.objects.filter(campaign_id=campaign.pk)
        right = sum(
            1
            for rid, mid, email in stored.values_list("recipient_id", "message_id", "recipient__email_address")
            if email == f"in{run}.{mid.split('-')[-1].split('@')[0]}@bench.invalid"
        )
        print(
            f"stored {stored.count()} of {args.replies}, matched to the right recipient {right}; "
            f"p99 {p99 * 1000:.1f} ms (target < 200 ms; ceiling p99 bare {ceil_before * 1000:.1f}/"
            f"{ceil_after * 1000:.1f} ms, auth + parsing {ceil_parse * 1000:.1f} ms)"
        )
        print(f"SQL statements of one more reply, in process: {statements_of_one_reply(recipients[0])}")
    finally:
        Campaign.all_objects.filter(pk=campaign.pk).delete()
        EmailTemplate.objects.filter(pk=template.pk).delete()
        Lead.objects.filter(email__startswith=f"in{run}.").delete()
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_inbound_ceiling")
        (ROOT / "bench" / "_inbound_ceiling_app.py").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
