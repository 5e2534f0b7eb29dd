"""No input of any shape — body, query string or path — makes a campaign endpoint answer
500. Every odd value goes into every field; the answer must be a 2xx/4xx and a bad value
must never change the campaign."""

import json
from unittest import mock

import pytest

from campaigns import tasks
from tests.factories import CampaignFactory, CampaignRecipientFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns"

ODD_VALUES = [
    99999999999999999999999,
    -99999999999999999999999,
    2**63,
    -1,
    0,
    1.5,
    1e308,
    True,
    None,
    "",
    "x" * 100_000,
    "\x00",
    "a\x00b",
    "2025-13-45T99:99:99",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00",
    "ünïcødé ✉",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    {"nested": {"object": [1]}},
    [1, "a", None],
]
# Raw JSON texts json.dumps cannot produce from Python values.
RAW_VALUES = ['"\\ud800"', '"\\udfff\\ud800"', "NaN", "Infinity", "1e999", "-0"]

CREATE_FIELDS = [
    "name",
    "description",
    "template_id",
    "subject",
    "from_email",
    "from_name",
    "reply_to",
    "send_rate_per_hour",
    "track_opens",
    "track_clicks",
    "scheduled_at",
    "status",
]
LAUNCH_FIELDS = ["send_immediately", "scheduled_at", "test_mode", "test_email", "send_rate_per_hour"]
TEST_FIELDS = ["test_email", "lead_id"]


def raw_body(base: dict, field: str, raw_value: str) -> bytes:
    text = json.dumps({**base, field: "__RAW__"})
    return text.replace('"__RAW__"', raw_value).encode()


@pytest.fixture(autouse=True)
def no_tasks():
    with mock.patch.object(tasks.send_campaign, "delay"), mock.patch.object(tasks.send_test_email, "delay"):
        yield


@pytest.fixture
def campaign():
    campaign = CampaignFactory()
    CampaignRecipientFactory(campaign=campaign)
    return campaign


def bodies(base, fields):
    for field in fields:
        for value in ODD_VALUES:
            yield json.dumps({**base, field: value}).encode()
        for raw in RAW_VALUES:
            yield raw_body(base, field, raw)


def assert_no_500(response, body):
    assert response.status_code < 500, (body[:200], response.content[:300])


def test_create_never_answers_500(api):
    for body in bodies({"name": "ok"}, CREATE_FIELDS):
        response = api.generic("POST", URL, body, content_type="application/json")
        assert_no_500(response, body)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_never_answers_500(api, campaign, method):
    for body in bodies({}, CREATE_FIELDS):
        response = api.generic(method, f"{URL}/{campaign.pk}", body, content_type="application/json")
        assert_no_500(response, body)


def test_launch_never_answers_500(api):
    for body in bodies({}, LAUNCH_FIELDS):
        campaign = CampaignFactory()
        CampaignRecipientFactory(campaign=campaign)
        response = api.generic("POST", f"{URL}/{campaign.pk}/launch", body, content_type="application/json")
        assert_no_500(response, body)


def test_send_test_never_answers_500(api, campaign):
    for body in bodies({"test_email": "qa@example.com"}, TEST_FIELDS):
        response = api.generic("POST", f"{URL}/{campaign.pk}/test", body, content_type="application/json")
        assert_no_500(response, body)


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b""),
        ("application/json", b"\xff\xfe\x00"),
        ("text/plain", b"name=x"),
        ("application/x-www-form-urlencoded", b"name=%00"),
        ("multipart/form-data; boundary=x", b"--x--"),
        ("application/json", b'{"name": "x"' * 1000),
        ("application/json", b"[" * 5000 + b"]" * 5000),
    ],
)
def test_odd_request_bodies_never_answer_500(api, campaign, content_type, body):
    for method, path in [
        ("POST", URL),
        ("PATCH", f"{URL}/{campaign.pk}"),
        ("POST", f"{URL}/{campaign.pk}/launch"),
        ("POST", f"{URL}/{campaign.pk}/test"),
    ]:
        response = api.generic(method, path, body, content_type=content_type)
        assert_no_500(response, body)


QUERY_PARAMS = ["status", "template_id", "search", "date_from", "date_to", "page", "page_size", "sort_by", "sort_order"]
QUERY_VALUES = [
    "99999999999999999999999",
    "-1",
    "0",
    "\x00",
    "%00",
    "x" * 5000,
    "1e3",
    "",
    " ",
    "ünï",
    "2025-02-30",
    "NaN",
    "[]",
    "{}",
    "' OR 1=1 --",
]


def test_list_query_strings_never_answer_500(api, campaign):
    for param in QUERY_PARAMS:
        for value in QUERY_VALUES:
            response = api.get(URL, {param: value})
            assert_no_500(response, f"{param}={value!r}".encode())
        response = api.get(f"{URL}?{param}=a&{param}=b")
        assert_no_500(response, param.encode())


@pytest.mark.parametrize(
    "path",
    [
        "99999999999999999999999",
        "%00",
        "%ff",
        "%C0%80",
        "..%2f..",
        "camp_%00",
        "1%0a",
        "%20",
        "camp_" + "f" * 12 + "%00",
        "-" * 2000,
        "1;DROP TABLE x",
        "１２",
    ],
)
@pytest.mark.parametrize(
    "suffix, method",
    [
        ("", "GET"),
        ("", "PATCH"),
        ("", "DELETE"),
        ("/launch", "POST"),
        ("/pause", "POST"),
        ("/resume", "POST"),
        ("/test", "POST"),
    ],
)
def test_odd_paths_answer_404_not_500(api, path, suffix, method):
    response = api.generic(method, f"{URL}/{path}{suffix}", b"{}", content_type="application/json")
    assert response.status_code == 404, response.content[:200]


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v1/campaigns/1/unknown-action", "/api/v1/campaigns/health/x"]
)
def test_unrouted_api_path_answers_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at this path.", "code": "not_found"}
