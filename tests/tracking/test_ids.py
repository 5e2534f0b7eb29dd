"""Every id the tracking paths take from a URL goes through `fliptech.ids.parse_pk`: anything
that is not a positive ASCII integer up to MAX_PK — a Unicode digit, a sign, a fraction, a
NUL byte, a number past bigint — is 404, never a 500, and records nothing."""

from urllib.parse import quote

import pytest
from django.test import Client

from fliptech.ids import MAX_PK
from tests.factories import CampaignFactory
from tests.tracking.conftest import HUMAN_UA
from tests.tracking.test_fastpath import call
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db

NOT_IDS = [
    "²",  # str.isdigit() says yes, int() says no
    "١٢",  # Arabic-Indic digits: int() says yes
    "１",  # a full-width digit
    "0",
    "-1",
    "+1",
    "1.0",
    "1e3",
    "0x1",
    " 1",
    "1 ",
    "\x00",
    "1\x00",
    "1\n",
    str(MAX_PK + 1),
    "9" * 40,
    "abc",
]
UNKNOWN_IDS = [str(MAX_PK), "999999"]  # ids, of nobody


def path_of(value):
    return quote(value, safe="")


@pytest.mark.parametrize("rid", NOT_IDS + UNKNOWN_IDS)
@pytest.mark.parametrize("kind", ["open", "click", "bounce"])
def test_recording_for_a_recipient_id_that_is_not_one_is_404(api, sent_recipient, kind, rid):
    response = api.post(f"/api/v1/campaigns/tracking/{path_of(rid)}/{kind}", {"url": ""}, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    assert not EmailTracking.objects.exists()


@pytest.mark.parametrize("rid", NOT_IDS + UNKNOWN_IDS)
def test_events_of_a_recipient_id_that_is_not_one_is_404(api, sent_recipient, rid):
    response = api.get(f"/api/v1/campaigns/tracking/{path_of(rid)}/events")
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"


def test_the_unicode_digit_of_the_issue_is_404(api, sent_recipient):
    assert api.get("/api/v1/campaigns/tracking/²/events").status_code == 404


@pytest.mark.parametrize("key", NOT_IDS + UNKNOWN_IDS)
@pytest.mark.parametrize("section", ["stats", "analytics"])
def test_stats_and_analytics_of_a_campaign_id_that_is_not_one_are_404(api, key, section):
    CampaignFactory()
    response = api.get(f"/api/v1/campaigns/{path_of(key)}/{section}")
    assert response.status_code == 404, response.content


@pytest.mark.parametrize("link_id", NOT_IDS + UNKNOWN_IDS)
def test_a_click_on_a_link_id_that_is_not_one_is_404_and_records_nothing(sent_recipient, link, link_id):
    response = Client(HTTP_USER_AGENT=HUMAN_UA).get(f"/t/c/{sent_recipient.token}/{path_of(link_id)}")
    assert response.status_code == 404
    assert not EmailTracking.objects.exists()


@pytest.mark.django_db(transaction=True)  # the fast path manages the connection as a request does
@pytest.mark.parametrize("link_id", NOT_IDS + UNKNOWN_IDS)
def test_a_click_on_a_link_id_that_is_not_one_is_404_on_the_fast_path_too(sent_recipient, link, link_id):
    # PATH_INFO as a WSGI server gives it: decoded, UTF-8 bytes as latin-1 characters.
    answer = call(f"/t/c/{sent_recipient.token}/" + link_id.encode().decode("latin-1"))
    assert answer["status"].startswith("404"), answer
    assert not EmailTracking.objects.exists()
