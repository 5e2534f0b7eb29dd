"""Real parts for the webhook tests: an HTTP receiver on loopback that records every POST
and can fail, hang or recover; the worker/beat subprocess fixtures of tests/sending."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from campaigns.models import CampaignRecipient
from tests.factories import CampaignRecipientFactory, UserFactory
from tests.sending.conftest import celery_procs, smtp_server  # noqa: F401 (fixtures)
from webhooks.models import WebhookEndpoint

SECRET = "s3cret-for-the-tests-0123456789"


class Receiver:
    """Records (headers, body) of every POST answered (failed ones too; `answered` has each
    answer's status). `fail_next(n, status)` answers the next n with
    `status` (0 = hang past the client's timeout); `fail_all` answers every one with 500."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.failures_left = 0
        self.failure_status = 500
        self.fail_all = False
        self.hang_seconds = 0.0
        self.answered = []  # the status of every answer, in order

    def handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        with self.lock:
            failing = self.fail_all or self.failures_left > 0
            if self.failures_left > 0:
                self.failures_left -= 1
            status = self.failure_status if failing else 200
            if status != 0:
                self.requests.append((dict(handler.headers), body))
            self.answered.append(status)
        if status == 0:
            time.sleep(self.hang_seconds)
            status = 504
        handler.send_response(status)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    def fail_next(self, n, status=500):
        with self.lock:
            self.failures_left, self.failure_status = n, status

    @property
    def count(self):
        with self.lock:
            return len(self.requests)

    def bodies(self):
        with self.lock:
            return [json.loads(body) for _, body in self.requests]

    def wait_for(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while self.count < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 (a free port); `receiver.url` is its address."""
    recorder = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real receiver

        def do_POST(self):
            recorder.handle(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/crm?source=fliptech"
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_settings(settings):
    """Deliveries to loopback allowed (the receiver), quick retries and timeouts."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 0.2
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1
    settings.WEBHOOKS_DRAIN_SECONDS = 5
    return settings


@pytest.fixture
def integrator(db):
    """A user with every webhooks permission (and campaigns', to launch)."""
    user = UserFactory(username="integrator")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["webhooks", "campaigns"]))
    return user


@pytest.fixture
def hooks_api(client_for, integrator):
    return client_for(integrator)


def endpoint_for(url, events=("message.opened",), **kwargs):
    return WebhookEndpoint.objects.create(url=url, events=list(events), secret=SECRET, **kwargs)


@pytest.fixture
def sent_recipient(db):
    return CampaignRecipientFactory(status=CampaignRecipient.Status.SENT, sent_at=timezone.now())
