"""Real parts for the sending tests: an SMTP server on loopback that records what it
accepts, and real Celery worker / beat subprocesses on the same test database and broker."""

import email
import email.policy
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.db import connection

from tests.conftest import port_open

ROOT = Path(__file__).resolve().parents[2]
logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command


def _in_thread(fn, *args):
    """Run a test's hook outside the server's event loop (Django's ORM refuses to run in
    one), with its own database connection, and wait for it."""
    errors = []

    def run():
        try:
            fn(*args)
        except Exception as exc:  # shown by the test that set the hook
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        logging.getLogger(__name__).error("test hook failed: %r", errors[0])


class Recorder:
    """aiosmtpd handler: keeps every accepted message; can refuse.

    - `fail_next(n, code="451 …")`: answer the next n DATA commands with a 4xx.
    - `reject(address, reply="550 5.1.1 …")` / `reject_all`: answer RCPT with `reply` for that
      address / everyone (`reject_reply`), e.g. "452 4.2.2 Mailbox full", "554 5.7.1 …".
    """

    NO_SUCH_USER = "550 5.1.1 No such user here"
    MAILBOX_FULL = "452 4.2.2 Mailbox full"
    POLICY = "554 5.7.1 Message refused by policy"

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []  # (envelope recipient, raw bytes)
        self.times = []  # time.monotonic() of each accepted message
        self.temp_failures = 0
        self.temp_code = "451 4.3.0 Try again later"
        self.rejected = {}  # address → RCPT reply
        self.reject_all = False
        self.reject_reply = self.NO_SUCH_USER
        self.refused = 0
        # Called (in the server's thread) with the envelope recipient: on_rcpt when RCPT
        # arrives (nothing handed over yet), on_accept right after a message was accepted.
        self.on_rcpt = None
        self.on_accept = None
        self.accept_reply = "250 2.0.0 Queued"  # e.g. a relay's "250 2.0.0 Ok: queued as <id>"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.on_rcpt is not None:
            _in_thread(self.on_rcpt, address)
        reply = self.rejected.get(address.lower()) or (self.reject_reply if self.reject_all else None)
        if reply:
            with self.lock:
                self.refused += 1
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.temp_failures > 0:
                self.temp_failures -= 1
                self.refused += 1
                return self.temp_code
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, envelope.original_content or envelope.content))
                self.times.append(time.monotonic())
        if self.on_accept is not None:
            for rcpt in envelope.rcpt_tos:
                _in_thread(self.on_accept, rcpt)
        return self.accept_reply

    def fail_next(self, n, code="451 4.3.0 Try again later"):
        with self.lock:
            self.temp_failures, self.temp_code = n, code

    def reject(self, address, reply=NO_SUCH_USER):
        self.rejected[address.lower()] = reply

    @property
    def count(self):
        with self.lock:
            return len(self.messages)

    def addresses(self):
        with self.lock:
            return [rcpt.lower() for rcpt, _ in self.messages]

    def parsed(self):
        with self.lock:
            raw = [data for _, data in self.messages]
        return [email.message_from_bytes(data, policy=email.policy.default) for data in raw]

    def wait_for(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (free port) recording what it accepts."""
    handler = Recorder()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Send from this (test) process through the recording server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    settings.SITE_URL = "https://mail.example.com"
    return settings


def database_url() -> str:
    """The test database as a DATABASE_URL for subprocesses (requires transactional_db)."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    user = conf.get("USER") or ""
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{conf.get('HOST') or '127.0.0.1'}:{conf.get('PORT') or 5432}/{conf['NAME']}"


def purge_broker():
    """Drop tasks left in the broker by an earlier test."""
    from fliptech.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")


class Procs:
    """Subprocesses started by a test, each in its own process group; all killed at teardown."""

    def __init__(self, env, log_dir):
        self.env = env
        self.log_dir = log_dir
        self.procs = []

    def start(self, *args, name="worker", extra_env=None):
        log = open(self.log_dir / f"{name}-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fliptech", *args],
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log_path = log.name
        self.procs.append(proc)
        return proc

    def worker(self, concurrency=2, name="worker", extra_env=None, pool="prefork"):
        return self.start(
            "worker",
            f"--pool={pool}",
            f"-c{concurrency}",
            "--loglevel=INFO",
            "-n",
            f"{name}{len(self.procs)}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            name=name,
            extra_env=extra_env,
        )

    def beat(self, name="beat"):
        return self.start(
            "beat",
            "--loglevel=INFO",
            "-S",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--pidfile=",
            name=name,
        )

    def wait_ready(self, timeout=60):
        """Until every started worker logged "ready" (works on every broker)."""
        workers = [p for p in self.procs if "/worker-" in p.log_path]
        return wait_until(
            lambda: all(" ready." in Path(p.log_path).read_text(errors="replace") for p in workers),
            timeout=timeout,
            interval=0.2,
        )

    @staticmethod
    def kill(proc, sig=signal.SIGKILL):
        """Signal the whole process group (the worker and its pool children)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self):
        # SIGKILL: a warm shutdown would wait for paced batches; the test is over anyway.
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc, signal.SIGKILL)

    def logs(self):
        return "\n".join(
            f"--- {p.log_path}\n{Path(p.log_path).read_text(errors='replace')[-4000:]}" for p in self.procs
        )


@pytest.fixture
def celery_procs(transactional_db, smtp_server, tmp_path, settings):
    """Starts real `celery -A fliptech worker|beat` subprocesses on this test's database,
    the configured broker (Redis, or the filesystem broker under FLIPTECH_VAR_DIR) and the
    recording SMTP server."""
    assert not django_settings.CELERY_TASK_ALWAYS_EAGER
    purge_broker()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}?timeout=10",
        "SITE_URL": "https://mail.example.com",
        "SEND_LEASE_SECONDS": "3",
        "SEND_RETRY_BACKOFF_SECONDS": "1",
        "SEND_BATCH_SIZE": "50",
        "SEND_SMTP_PIPELINING": "1",  # aiosmtpd does not offer it; on PostgreSQL this also
        # exercises the sender that overlaps database and SMTP round trips
        "CELERY_VISIBILITY_TIMEOUT": "3600",
        "DB_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    if django_settings.CELERY_BROKER_URL.startswith("filesystem"):
        env["FLIPTECH_VAR_DIR"] = str(django_settings.VAR_DIR)
    settings.SITE_URL = "https://mail.example.com"
    procs = Procs(env, tmp_path)
    yield procs
    procs.stop_all()
    purge_broker()
    # Leave no periodic tasks behind for the next test's beat.


def wait_until(predicate, timeout=60, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


__all__ = ["Recorder", "database_url", "port_open", "wait_until"]
