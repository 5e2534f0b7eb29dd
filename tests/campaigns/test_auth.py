"""Who may call the campaign endpoints: authentication, model permissions, throttling,
CORS, and the API docs served without a CDN."""

import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from campaigns import tasks
from campaigns.models import Campaign
from tests.factories import CampaignFactory, CampaignRecipientFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns"
BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def campaign():
    campaign = CampaignFactory()
    CampaignRecipientFactory(campaign=campaign)
    return campaign


def calls(campaign):
    """(method, path, body) of every campaign endpoint but health."""
    one = f"{URL}/{campaign.pk}"
    return [
        ("get", URL, None),
        ("post", URL, {"name": "x"}),
        ("get", one, None),
        ("put", one, {"name": "x"}),
        ("patch", one, {"name": "x"}),
        ("delete", one, None),
        ("post", f"{one}/launch", {}),
        ("post", f"{one}/pause", None),
        ("post", f"{one}/resume", None),
        ("post", f"{one}/test", {"test_email": "qa@example.com"}),
    ]


WRITES = [1, 3, 4, 5, 6, 7, 8, 9]  # indexes into calls()


def do(client, method, path, body):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


@pytest.mark.parametrize("index", range(10))
def test_anonymous_call_answers_401_with_www_authenticate(anon_client, campaign, index):
    response = do(anon_client, *calls(campaign)[index])
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


@pytest.mark.parametrize("index", [0, 2, 6])
def test_unknown_token_answers_401(anon_client, campaign, index):
    anon_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = do(anon_client, *calls(campaign)[index])
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "header",
    ["Token abc\x00def", "Token " + "a" * 10_000, "Token " + "A" * 40, "Token a b", "Token", "Token " + "\xed\xa0\x80"],
)
def test_malformed_token_answers_401_not_500(anon_client, header):
    response = anon_client.get(URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize("cookie", ['"abcdefghij\\000klm"', "abcdefghijklmnop%00", '"\\377\\376xxxxxxxx"', "x" * 5000])
@pytest.mark.parametrize("path", [URL, "/admin/"])
def test_malformed_session_cookie_is_no_session_not_500(anon_client, cookie, path):
    response = anon_client.get(path, HTTP_COOKIE=f"sessionid={cookie}")
    assert response.status_code in (302, 401)  # the admin redirects to its login page


def test_valid_session_cookie_still_works(user, client):
    client.force_login(user)
    assert client.get(URL).status_code == 200


@pytest.mark.parametrize("index", WRITES)
def test_write_without_permission_answers_403_and_changes_nothing(client_for, viewer, campaign, index):
    before = Campaign.all_objects.filter(pk=campaign.pk).values().get()
    with mock.patch.object(tasks.send_campaign, "delay") as delay:
        response = do(client_for(viewer), *calls(campaign)[index])
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Campaign.all_objects.filter(pk=campaign.pk).values().get() == before
    assert Campaign.all_objects.count() == 1
    assert delay.call_count == 0


@pytest.mark.parametrize("index", [0, 2])
def test_reads_need_the_view_permission(client_for, viewer, campaign, index):
    response = do(client_for(viewer), *calls(campaign)[index])
    assert response.status_code == 403
    assert campaign.name.encode() not in response.content
    viewer.user_permissions.set(Permission.objects.filter(codename="view_campaign"))
    viewer = type(viewer).objects.get(pk=viewer.pk)  # a fresh permission cache
    assert do(client_for(viewer), *calls(campaign)[index]).status_code == 200


def test_actions_need_change_permission_not_add(client_for, campaign, django_capture_on_commit_callbacks):
    changer = UserFactory(username="changer")
    changer.user_permissions.set(Permission.objects.filter(codename="change_campaign"))
    client = client_for(changer)
    with mock.patch.object(tasks.send_campaign, "delay"), django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{URL}/{campaign.pk}/launch", {}, format="json").status_code == 200
    assert client.post(URL, {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"{URL}/{campaign.pk}").status_code == 403


def test_adder_cannot_launch(client_for, campaign):
    adder = UserFactory(username="adder")
    adder.user_permissions.set(Permission.objects.filter(codename="add_campaign"))
    client = client_for(adder)
    assert client.post(URL, {"name": "x"}, format="json").status_code == 201
    assert client.post(f"{URL}/{campaign.pk}/launch", {}, format="json").status_code == 403


def test_session_authentication_works_and_enforces_csrf(user, campaign):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(f"{URL}/{campaign.pk}").status_code == 200
    response = client.post(URL, {"name": "no csrf"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Campaign.objects.filter(name="no csrf").exists()


@pytest.mark.parametrize("suffix", ["", "/{pk}", "/{pk}/launch", "/{pk}/test", "/health"])
def test_browsable_api_pages_render_for_a_logged_in_user(user, campaign, suffix):
    client = APIClient()
    client.force_login(user)
    response = client.get(URL + suffix.format(pk=campaign.pk), HTTP_ACCEPT="text/html")
    assert response.status_code in (200, 405)  # actions are POST-only; the page still renders
    assert response["Content-Type"].startswith("text/html")


def test_created_by_is_the_authenticated_user(client_for):
    author = UserFactory(username="author")
    author.user_permissions.set(Permission.objects.filter(codename="add_campaign"))
    body = client_for(author).post(URL, {"name": "Mine"}, format="json").json()
    assert body["created_by"] == "author"
    assert Campaign.objects.get(pk=body["id"]).created_by == author


# --- throttling -----------------------------------------------------------------------


def test_throttled_user_gets_429_with_detail_and_code(api, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "rate", "2/minute", raising=False)
    assert api.get(URL).status_code == 200
    assert api.get(URL).status_code == 200
    response = api.get(URL)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_a_throttled_user_is_let_in_again_when_the_window_ends(api, monkeypatch):
    """Fixed windows (fliptech/throttling.py): the count starts again at the next window, and
    the refusal says how long until then."""
    monkeypatch.setattr(UserRateThrottle, "rate", "2/minute", raising=False)
    clock = {"now": 1_800_000_030.0}  # 30 s into a minute
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: clock["now"])
    assert [api.get(URL).status_code for _ in range(3)] == [200, 200, 429]
    clock["now"] += 20
    refused = api.get(URL)
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 11
    clock["now"] += 10  # the next minute
    assert [api.get(URL).status_code for _ in range(3)] == [200, 200, 429]


def test_calls_go_through_when_the_throttle_cache_is_down(api):
    down = ConnectionError("cache down")
    with (
        mock.patch("django.core.cache.cache.get", side_effect=down),  # the failed-authentication count
        mock.patch("fliptech.throttling.add_one", side_effect=down),
    ):
        assert api.get(URL).status_code == 200


def test_throttled_anonymous_gets_429_on_health(anon_client, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "1/minute", raising=False)  # the health view's too
    assert anon_client.get(f"{URL}/health").status_code == 200
    response = anon_client.get(f"{URL}/health")
    assert response.status_code == 429
    assert set(response.json()) == {"detail", "code"}


# --- CORS -----------------------------------------------------------------------------

ALLOWED_ORIGIN = "https://app.fliptech.example"


def test_cors_preflight_from_allowed_origin(anon_client, settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN]
    response = anon_client.options(
        URL,
        HTTP_ORIGIN=ALLOWED_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "authorization" in response["Access-Control-Allow-Headers"].lower()


def test_cors_actual_request_from_allowed_origin(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN]
    response = api.get(URL, HTTP_ORIGIN=ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_cors_refuses_other_origin(api, anon_client, settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED_ORIGIN]
    preflight = anon_client.options(URL, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in preflight
    assert "Access-Control-Allow-Origin" not in api.get(URL, HTTP_ORIGIN="https://evil.example")


# --- API docs -------------------------------------------------------------------------

DOCS_CHECK = r"""
import json, os, re, django
django.setup()
from django.core.management import call_command
if os.environ.get("COLLECT_STATIC") == "1":
    call_command("collectstatic", "--noinput", verbosity=0)
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="localhost")
page = client.get("/api/docs/")
html = page.content.decode()
assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
print(json.dumps({
    "debug": settings.DEBUG,
    "page": page.status_code,
    "assets": {url: client.get(url).status_code for url in assets},
    "absolute_urls": re.findall(r'(?:src|href)="(https?:)?//[^"]*"', html),
    "schema": client.get("/api/schema/").status_code,
}))
"""


def docs_check(tmp_path, *, collect_static: bool) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "STATIC_ROOT"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="fliptech.settings",
        DEBUG="0",
        SECRET_KEY="s" * 50,
        FLIPTECH_VAR_DIR=str(tmp_path),
        STATIC_ROOT=str(tmp_path / "static"),
        COLLECT_STATIC="1" if collect_static else "0",
    )
    result = subprocess.run(
        [sys.executable, "-c", DOCS_CHECK], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    import json

    return json.loads(result.stdout.strip().splitlines()[-1])


def test_swagger_ui_served_from_own_static_files_with_debug_off(tmp_path):
    """A fresh process with DEBUG=0: collectstatic, then the page, its JS and CSS through
    whitenoise, and no asset from a CDN."""
    report = docs_check(tmp_path, collect_static=True)
    assert report["debug"] is False
    assert report["page"] == 200
    assert report["schema"] == 200
    scripts = [url for url in report["assets"] if re.search(r"swagger-ui-bundle\.[0-9a-f]+\.js$", url)]
    assert scripts, report["assets"]
    assert set(report["assets"].values()) == {200}
    assert report["absolute_urls"] == []


def test_swagger_ui_served_with_debug_off_before_collectstatic(tmp_path):
    """A fresh checkout run with DEBUG=0 and no collectstatic (gunicorn straight after
    `pip install`): the page and its assets still answer, served from the apps."""
    report = docs_check(tmp_path, collect_static=False)
    assert report["debug"] is False
    assert report["page"] == 200
    assert any("swagger-ui-bundle" in url for url in report["assets"]), report["assets"]
    assert set(report["assets"].values()) == {200}
    assert report["absolute_urls"] == []
