"""Endpoint 6: GET /api/v1/campaigns/health — public and honest."""

import socket
from unittest import mock

import pytest
from django.db import OperationalError, connections

from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns/health"


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_is_public_and_reports_ok(anon_client, settings):
    response = anon_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["message"]
    assert body["data"] == {"version": settings.APP_VERSION, "database": "ok", "broker": "ok"}


def test_health_with_trailing_slash_and_not_shadowed_by_campaign_detail(anon_client):
    CampaignFactory()
    assert anon_client.get(URL + "/").status_code == 200


def test_health_ignores_bad_credentials(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon_client.get(URL).status_code == 200


def test_health_against_real_redis_broker(anon_client, require_redis):
    assert anon_client.get(URL).json()["data"]["broker"] == "ok"


def test_health_answers_503_when_broker_is_down(anon_client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = anon_client.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["data"]["broker"] == "unavailable" and body["data"]["database"] == "ok"
    assert "broker" in body["message"]


def test_health_answers_503_when_database_is_down(anon_client):
    with mock.patch.object(connections["default"], "cursor", side_effect=OperationalError("down")):
        response = anon_client.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["data"]["database"] == "unavailable" and body["data"]["broker"] == "ok"


def test_health_answers_503_when_embedded_broker_folder_is_missing(anon_client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    missing = str(tmp_path / "no-such-folder")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": missing, "data_folder_out": missing}
    response = anon_client.get(URL)
    assert response.status_code == 503
    assert response.json()["data"]["broker"] == "unavailable"


def test_health_embedded_broker_ok_with_its_folders(anon_client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    assert anon_client.get(URL).status_code == 200


def test_health_answers_even_when_the_throttle_cache_is_down(anon_client):
    down = ConnectionError("cache down")
    with (
        mock.patch("django.core.cache.cache.get", side_effect=down),
        mock.patch("fliptech.throttling.add_one", side_effect=down),
    ):
        response = anon_client.get(URL)
    assert response.status_code == 200
