"""The WSGI shortcut (tracking/fastpath.py) in front of Django for the pixel and click paths.

Runs with real transactions: the shortcut manages the database connection the way a
request does, which the per-test transaction would hide.
"""

import contextlib
import io
from datetime import timedelta
from wsgiref.util import setup_testing_defaults

import pytest
from django.db import connections
from django.utils import timezone

from campaigns.models import CampaignRecipient
from fliptech.wsgi import application
from tests.factories import CampaignLinkFactory, CampaignRecipientFactory
from tests.tracking.conftest import HUMAN_UA
from tracking.hits import PIXEL
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db(transaction=True)


def call(path, method="GET", query="", ua=HUMAN_UA):
    environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "HTTP_USER_AGENT": ua,
        "REMOTE_ADDR": "203.0.113.7",
        "wsgi.input": io.BytesIO(),
    }
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    answer["body"] = b"".join(application(environ, start_response))
    return answer


@contextlib.contextmanager
def unreachable_database():
    """The default connection pointed at a database that cannot be reached, then restored."""
    conn = connections["default"]
    saved = conn.settings_dict
    broken = {**saved, **({"NAME": "/nonexistent-dir/db.sqlite3"} if conn.vendor == "sqlite" else {"PORT": "1"})}
    conn.close()
    conn.settings_dict = broken
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict = saved


@pytest.fixture
def recipient(db):
    return CampaignRecipientFactory(status=CampaignRecipient.Status.SENT, sent_at=timezone.now() - timedelta(hours=1))


def test_pixel_is_answered_and_recorded(recipient):
    answer = call(f"/t/o/{recipient.token}.gif")
    assert answer["status"] == "200 OK"
    assert answer["headers"]["Content-Type"] == "image/gif"
    assert answer["headers"]["Cache-Control"] == "no-store, private"
    assert "Set-Cookie" not in answer["headers"]
    assert answer["body"] == PIXEL
    recipient.refresh_from_db()
    assert recipient.open_count == 1 and recipient.opened_at is not None
    assert EmailTracking.objects.get().ip_address == "203.0.113.7"


def test_pixel_head_has_no_body_and_is_a_machine_open(recipient):
    answer = call(f"/t/o/{recipient.token}.gif", method="HEAD")
    assert answer["status"] == "200 OK" and answer["body"] == b""
    recipient.refresh_from_db()
    assert (recipient.open_count, recipient.machine_open_count) == (0, 1)


def test_unknown_token_gets_the_gif(db):
    answer = call("/t/o/who-knows.gif")
    assert answer["status"] == "200 OK" and answer["body"] == PIXEL
    assert not EmailTracking.objects.exists()


def test_pixel_survives_an_unreachable_database(recipient, caplog):
    with unreachable_database():
        answer = call(f"/t/o/{recipient.token}.gif")
    assert answer["status"] == "200 OK" and answer["body"] == PIXEL
    assert "could not record an open" in caplog.text


def test_click_redirects_to_the_stored_url_whatever_the_query(recipient):
    link = CampaignLinkFactory(campaign=recipient.campaign, url="https://fliptech.example/deal")
    answer = call(f"/t/c/{recipient.token}/{link.pk}", query="url=https://evil.example")
    assert answer["status"] == "302 Found"
    assert answer["headers"]["Location"] == "https://fliptech.example/deal"
    recipient.refresh_from_db()
    assert recipient.click_count == 1 and recipient.clicked_at is not None


def test_click_answer_headers_and_head(recipient):
    link = CampaignLinkFactory(campaign=recipient.campaign, url="https://fliptech.example/café?q=ü")
    answer = call(f"/t/c/{recipient.token}/{link.pk}", method="HEAD")
    assert answer["status"] == "302 Found" and answer["body"] == b""
    assert answer["headers"]["Location"] == "https://fliptech.example/caf%C3%A9?q=%C3%BC"
    assert answer["headers"]["Cache-Control"] == "no-store, private"
    assert answer["headers"]["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in answer["headers"]
    recipient.refresh_from_db()
    assert (recipient.click_count, recipient.machine_click_count) == (0, 1)  # HEAD is a machine


def test_click_with_the_database_unreachable_is_503(recipient, caplog):
    link = CampaignLinkFactory(campaign=recipient.campaign)
    with unreachable_database():
        answer = call(f"/t/c/{recipient.token}/{link.pk}")
    assert answer["status"] == "503 Service Unavailable" and "Location" not in answer["headers"]
    assert "click: database unavailable" in caplog.text


def test_click_on_another_campaigns_link_is_404(recipient):
    foreign = CampaignLinkFactory(url="https://evil.example/")
    assert call(f"/t/c/{recipient.token}/{foreign.pk}")["status"].startswith("404")
    assert call(f"/t/c/nope/{foreign.pk}")["status"].startswith("404")
    assert not EmailTracking.objects.exists()


def test_other_paths_go_to_django(db):
    answer = call("/api/v1/campaigns/health")
    assert answer["status"].split()[0] in ("200", "503")
    assert call("/t/o/")["status"].startswith("404")


def test_pixel_without_a_client_address_is_still_recorded(recipient):
    environ_ip = ""  # gunicorn on a unix socket
    environ = {
        "PATH_INFO": f"/t/o/{recipient.token}.gif",
        "REQUEST_METHOD": "GET",
        "HTTP_USER_AGENT": HUMAN_UA,
        "REMOTE_ADDR": environ_ip,
        "wsgi.input": io.BytesIO(),
    }
    setup_testing_defaults(environ)
    assert b"".join(application(environ, lambda status, headers: None)) == PIXEL
    assert EmailTracking.objects.get().ip_address is None
