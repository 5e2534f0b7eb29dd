"""The fault harness: real Celery worker and beat subprocesses on the test database, a Redis
broker, and an SMTP server on loopback that can be switched to answer 451 or to refuse
connections, counting what it received per address.

Everything runs with the product's defaults (backoff doubling, attempts, connection age)
except what a test names: a small batch size so a campaign is several batches, a slow server
(a few ms a message) so a fault lands mid-batch — and the clock: every timing the recovery
waits on (lease, stall check, retry backoff, the janitor's period, the outages) is the
product's times SCALE (`FAULTS_TIME_SCALE`, 0.2 by default: a 30 s lease is 6 s, a 60 s outage
12 s). The same faults and checks at a fifth of the wall time; `FAULTS_TIME_SCALE=1` runs
them at the product's own timings with real 60 s outages (docs/reliability.md).
"""

import asyncio
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.apps import apps as registry
from django.conf import settings as django_settings

from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.conftest import need, port_open
from tests.factories import CampaignFactory, EmailTemplateFactory
from tests.sending.conftest import Procs, database_url, free_port, wait_until
from tests.test_counters import assert_counters_match

R = CampaignRecipient.Status
HTML = (
    '<html><body><p>Hello {{ lead.first_name }}</p><p><a href="https://fliptech.example/o">Offer</a></p></body></html>'
)
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.I | re.M)
RECOVERY: dict[str, dict] = {}  # test → {"what": seconds}, printed at the end of the run

SCALE = float(os.environ.get("FAULTS_TIME_SCALE") or 0.2)


def scaled(seconds: float) -> int:
    """A product timing on the tests' clock (whole seconds, at least 1)."""
    return max(1, round(seconds * SCALE))


# The promise is recovery within 60 s of the product's time. Scaled, the part that waits on a
# timing shrinks with it and what does not (a process starting, a loaded machine) stays:
# never less than 25 s of wall time.
RECOVERY_LIMIT = max(scaled(60), 25)
OUTAGE = scaled(60)  # seconds: the outages (60 s at the product's timings)


def record_recovery(test: str, **seconds) -> None:
    RECOVERY.setdefault(test, {}).update({k: round(v, 1) for k, v in seconds.items()})


def pytest_terminal_summary(terminalreporter):
    if RECOVERY:
        terminalreporter.section("fault recovery times (s)")
        for test, figures in RECOVERY.items():
            terminalreporter.write_line(f"{test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# --- The SMTP server -------------------------------------------------------------------------


class FaultySMTP:
    """aiosmtpd handler + its controller on a fixed port.

    - `mode = "ok"`: accept; every DATA received is a delivery (recorded when the server has
      the whole message, before it answers — as an MTA that queued it);
    - `mode = "451"`: answer every RCPT with 451 (greylisting, a full queue);
    - `down()` / `up()`: stop listening (connection refused) / listen again on the same port.
    `delay` seconds pass in DATA before the 250 (a slow server keeps a batch in flight).
    """

    def __init__(self, port: int):
        self.port = port
        self.lock = threading.Lock()
        self.mode = "ok"
        self.delay = 0.0
        self.deliveries = []  # (address, monotonic time, Message-ID)
        self.attempts: dict[str, list[float]] = {}  # RCPT times per address
        self.controller = None
        self.closing = False
        self.in_data = 0  # DATA commands being answered

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        address = address.lower()
        with self.lock:
            self.attempts.setdefault(address, []).append(time.monotonic())
        if self.mode == "451":
            return "451 4.7.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "451":
            return "451 4.3.0 Try again later"
        if self.closing:
            return "421 4.3.2 Shutting down"
        found = MESSAGE_ID.search(envelope.original_content or envelope.content or b"")
        with self.lock:
            self.in_data += 1
            for rcpt in envelope.rcpt_tos:
                self.deliveries.append((rcpt, time.monotonic(), found.group(1).decode() if found else ""))
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return "250 2.0.0 Queued"
        finally:
            with self.lock:
                self.in_data -= 1

    def up(self):
        self.closing = False
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self):
        """Stop as an MTA does: the message being answered gets its 250 (so a delivery
        never loses its answer to the harness), new ones a 421, then the port closes."""
        self.closing = True
        wait_until(lambda: self.in_data == 0, timeout=10, interval=0.01)
        time.sleep(0.2)  # the last 250 reaches the client
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        assert not port_open("127.0.0.1", self.port)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.deliveries)

    def per_address(self) -> Counter:
        with self.lock:
            return Counter(rcpt for rcpt, _, _ in self.deliveries)

    def last_delivery(self) -> float | None:
        with self.lock:
            return self.deliveries[-1][1] if self.deliveries else None

    def first_delivery_after(self, moment: float) -> float | None:
        with self.lock:
            return next((t for _, t, _ in self.deliveries if t >= moment), None)

    def message_ids(self) -> dict:
        with self.lock:
            return {rcpt: mid for rcpt, _, mid in self.deliveries}


@pytest.fixture
def smtp():
    server = FaultySMTP(free_port())
    server.up()
    yield server
    server.down()


# --- A private Redis ------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence (a restart loses the
    queue, as a crash of an unpersisted broker does)."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=open(self.dir / "redis.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert wait_until(lambda: port_open("127.0.0.1", self.port), timeout=10, interval=0.05)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path):
    import shutil

    need(shutil.which("redis-server") is not None, "redis-server (for a private broker)")
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.kill()


@contextmanager
def broker(url: str):
    """Point this (test) process's Celery app at `url` — so `campaign_launch` queues its task
    where the workers listen — and back afterwards."""
    from fliptech.celery import app

    def reset():  # as Celery does after a fork; kombu keeps one pool per broker URL
        app._pool = None
        app.amqp._producer_pool = None

    old = app.conf.broker_url
    reset()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url = old


# --- Workers and beat ------------------------------------------------------------------------


class FaultProcs(Procs):
    """`Procs` plus the counts a storm shows in the logs."""

    def runs(self) -> int:
        """send_campaign runs finished (succeeded, retried or raised), over every worker."""
        pattern = re.compile(r"Task campaigns\.tasks\.send_campaign\[[^\]]+\] (succeeded|retry|raised)")
        return sum(len(pattern.findall(self.log_text(p))) for p in self.procs if "/worker-" in p.log_path)

    def received(self) -> int:
        pattern = re.compile(
            r"Received task: campaigns\.tasks\.send_campaign\[|Task campaigns\.tasks\.send_campaign\[[^\]]+\] received"
        )
        return sum(len(pattern.findall(self.log_text(p))) for p in self.procs if "/worker-" in p.log_path)

    def logs_all(self) -> str:
        return "\n".join(self.log_text(p) for p in self.procs)

    @staticmethod
    def log_text(proc) -> str:
        return Path(proc.log_path).read_text(errors="replace")


# The product's timings the workers get on the tests' clock (their defaults: 30, 30, 10, 300).
SCALED_SETTINGS = ("SEND_LEASE_SECONDS", "SEND_STALL_SECONDS", "SEND_RETRY_BACKOFF_SECONDS", "SEND_DB_RETRY_SECONDS")


@pytest.fixture
def faults_env(transactional_db, smtp, settings):
    need(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), "PostgreSQL (DATABASE_URL)")
    need(settings.CELERY_BROKER_URL.startswith("redis"), "Redis (CELERY_BROKER_URL)")
    assert not django_settings.CELERY_TASK_ALWAYS_EAGER
    settings.SITE_URL = "https://mail.example.com"
    # Transactional tests flush the tables the data migration filled: register the janitor
    # and the launcher again for this test's beat, on the tests' clock.
    schedule = import_module("campaigns.migrations.0002_sending_beat_schedule")
    schedule.register(registry, every_seconds=scaled(schedule.EVERY_SECONDS))
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}?timeout=10",
        "SITE_URL": "https://mail.example.com",
        "SEND_BATCH_SIZE": "25",
        **{name: str(scaled(getattr(django_settings, name))) for name in SCALED_SETTINGS},
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def procs(faults_env, tmp_path):
    """Worker/beat subprocesses on the shared test broker (purged before and after)."""
    from tests.sending.conftest import purge_broker

    purge_broker()
    started = FaultProcs(faults_env, tmp_path)
    yield started
    started.stop_all()
    purge_broker()


# --- Campaigns and the checks every fault test ends with ---------------------------------------


def make_campaign(n, prefix="f", **fields):
    template = EmailTemplateFactory(subject="Hi {{ lead.first_name }}", body_html=HTML)
    campaign = CampaignFactory(template=template, from_email="news@fliptech.example", **fields)
    leads = Lead.objects.bulk_create(Lead(email=f"{prefix}{i}@example.net", first_name=f"N{i}") for i in range(n))
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(campaign=campaign, lead=lead, email_address=lead.email, first_name=lead.first_name)
        for lead in leads
    )
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    campaign.refresh_from_db()
    return campaign


def status_of(campaign) -> str:
    return Campaign.all_objects.values_list("status", flat=True).get(pk=campaign.pk)


def statuses(campaign) -> Counter:
    return Counter(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True))


def rows(campaign, **filters) -> set:
    return set(CampaignRecipient.objects.filter(campaign=campaign, **filters).values_list("email_address", flat=True))


def interrupted(campaign) -> set:
    return rows(campaign, status=R.FAILED, error_message__startswith="interrupted")


def wait_completed(campaign, procs, timeout) -> float:
    """Seconds until the campaign completed (fails the test with the logs after `timeout`)."""
    start = time.monotonic()
    done = wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=timeout, interval=0.25)
    if not done:
        stuck = list(
            CampaignRecipient.objects.filter(campaign=campaign, status__in=[R.PENDING, R.QUEUED]).values(
                "pk", "status", "sent_at", "lease_expires_at", "attempts", "error_message"
            )[:5]
        )
        pytest.fail(
            f"not completed after {timeout} s: {statuses(campaign)}, {status_of(campaign)}; not final: {stuck}"
            f"\n{procs.logs()}"
        )
    return time.monotonic() - start


def assert_sound(campaign, smtp):
    """After every fault: every recipient final, no address mailed twice, every delivery
    recorded `sent` (or, for a message in flight when its sender died, `interrupted`), every
    `sent` row delivered with its own Message-ID, and the counters equal a recount."""
    final = statuses(campaign)
    assert set(final) <= {R.SENT, R.FAILED}, final
    assert sum(final.values()) == campaign.total_recipients
    twice = {address: n for address, n in smtp.per_address().items() if n > 1}
    assert not twice, f"mailed more than once: {twice}"
    delivered = set(smtp.per_address()) & rows(campaign)
    sent = rows(campaign, status=R.SENT)
    assert sent <= delivered, f"recorded sent, never delivered: {sorted(sent - delivered)[:10]}"
    assert delivered <= sent | interrupted(campaign), (
        f"delivered, recorded otherwise: {sorted(delivered - sent - interrupted(campaign))[:10]}"
    )
    ids = smtp.message_ids()
    stored = dict(
        CampaignRecipient.objects.filter(campaign=campaign, status=R.SENT).values_list("email_address", "message_id")
    )
    assert all(ids[a] == stored[a] for a in sent)
    assert_counters_match(campaign)
    return final
