"""No tracking hit is lost to a dropped database connection.

The server drops the app's connection (`pg_terminate_backend`: a restart, a failover, an
operator) between two hits; the next hit finds a dead connection. It must reconnect and
record the hit: the pixel still answers its GIF *and* records the open, the click still
redirects (no 503) and records the click. Proven three ways: the WSGI application in this
process (the fast path, as gunicorn runs it), the Django views (test client), and gunicorn
with two workers over real HTTP, each worker's connection dropped again and again.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from campaigns.models import CampaignRecipient
from tests.factories import CampaignFactory, CampaignLinkFactory, CampaignRecipientFactory
from tests.tracking.conftest import HUMAN_UA
from tests.tracking.test_fastpath import call
from tracking.hits import PIXEL
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 5


def _admin_connection():
    """A connection of its own, to terminate others with."""
    params = connection.get_connection_params()
    return psycopg.connect(
        **{k: v for k, v in params.items() if k not in ("cursor_factory", "context", "prepare_threshold")},
        autocommit=True,
    )


def drop_this_process_connection():
    """Terminate the server side of this process's open connection, as the server would."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with _admin_connection() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        for _ in range(100):  # until the backend is gone
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                break
            time.sleep(0.02)
    assert connection.connection is not None  # Django does not know yet: the next hit finds out


@pytest.fixture(autouse=True)
def _no_dead_connection_left():
    """A failing test may leave this process's connection dead: replace it before the
    database is flushed, so one failure does not break the tests after it."""
    yield
    if connection.connection is not None and not connection.is_usable():
        connection.close()


@pytest.fixture
def recipient(require_postgres):
    return CampaignRecipientFactory(status=CampaignRecipient.Status.SENT, sent_at=timezone.now() - timedelta(hours=1))


def counts(recipient):
    recipient.refresh_from_db()
    events = EmailTracking.objects.filter(campaign_recipient=recipient)
    return {
        "opens": events.filter(event_type="open").count(),
        "clicks": events.filter(event_type="click").count(),
        "open_count": recipient.open_count,
        "click_count": recipient.click_count,
    }


def test_fast_path_hits_after_a_dropped_connection_are_all_recorded(recipient):
    link = CampaignLinkFactory(campaign=recipient.campaign, url="https://fliptech.example/deal")
    for _ in range(ROUNDS):
        drop_this_process_connection()
        answer = call(f"/t/o/{recipient.token}.gif")
        assert answer["status"] == "200 OK" and answer["body"] == PIXEL
        drop_this_process_connection()
        answer = call(f"/t/c/{recipient.token}/{link.pk}")
        assert answer["status"] == "302 Found", answer
        assert answer["headers"]["Location"] == "https://fliptech.example/deal"
    # Every open and click recorded once; a click on an opened recipient adds no open.
    assert counts(recipient) == {"opens": ROUNDS, "clicks": ROUNDS, "open_count": ROUNDS, "click_count": ROUNDS}


def test_view_hits_after_a_dropped_connection_are_all_recorded(recipient):
    web = Client(HTTP_USER_AGENT=HUMAN_UA)
    link = CampaignLinkFactory(campaign=recipient.campaign, url="https://fliptech.example/deal")
    for _ in range(ROUNDS):
        drop_this_process_connection()
        assert web.get(f"/t/o/{recipient.token}.gif").content == PIXEL
        drop_this_process_connection()
        response = web.get(f"/t/c/{recipient.token}/{link.pk}")
        assert response.status_code == 302 and response["Location"] == "https://fliptech.example/deal"
    assert counts(recipient) == {"opens": ROUNDS, "clicks": ROUNDS, "open_count": ROUNDS, "click_count": ROUNDS}


def test_an_unknown_token_after_a_dropped_connection_still_records_nothing(recipient):
    link = CampaignLinkFactory(campaign=recipient.campaign)
    drop_this_process_connection()
    assert call("/t/o/nobody-has-this-token.gif")["body"] == PIXEL
    drop_this_process_connection()
    assert call(f"/t/c/nobody-has-this-token/{link.pk}")["status"].startswith("404")
    assert not EmailTracking.objects.exists()


# --- gunicorn: two workers, each with a persistent connection, dropped every few hits -------

APP_NAME = "fliptech-tracking-drop-test"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url():
    conf = connection.settings_dict
    auth = f"{conf['USER']}{':' + conf['PASSWORD'] if conf.get('PASSWORD') else ''}@" if conf.get("USER") else ""
    return f"postgres://{auth}{conf.get('HOST') or '127.0.0.1'}:{conf.get('PORT') or 5432}/{conf['NAME']}"


@pytest.fixture
def gunicorn(tmp_path, require_postgres):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DB_CONN_MAX_AGE": "600",  # persistent connections, as in production
        "PGAPPNAME": APP_NAME,  # libpq names the app's connections: the test drops only those
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "fliptech.settings",
    }
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fliptech.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/t/o/warmup.gif", timeout=5).read()
                break
            except OSError:  # not listening yet, or still booting
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "gunicorn.log").read_text(errors="replace")) from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url):
    request = urllib.request.Request(url, headers={"User-Agent": HUMAN_UA})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _drop_app_connections():
    with _admin_connection() as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            [APP_NAME],
        ).fetchall()
    return len(rows)


def test_gunicorn_loses_no_hit_when_its_connections_are_dropped(gunicorn):
    campaign = CampaignFactory()
    sent_at = timezone.now() - timedelta(hours=1)
    recipients = [
        CampaignRecipientFactory(campaign=campaign, status=CampaignRecipient.Status.SENT, sent_at=sent_at)
        for _ in range(30)
    ]
    link = CampaignLinkFactory(campaign=campaign, url="https://fliptech.example/deal")
    dropped = 0
    for i in range(90):
        if i % 10 == 0:
            dropped += _drop_app_connections()
        token = recipients[i % len(recipients)].token
        assert _get(f"{gunicorn}/t/o/{token}.gif") == (200, PIXEL)
        status, _ = _get(f"{gunicorn}/t/c/{token}/{link.pk}")
        assert status == 302, f"click {i} answered {status}"
    assert dropped >= 9  # at least one live connection was dropped each time
    events = EmailTracking.objects.filter(campaign=campaign)
    assert events.filter(event_type="open").count() == 90
    assert events.filter(event_type="click").count() == 90
    assert sum(r.open_count for r in CampaignRecipient.objects.filter(campaign=campaign)) == 90
