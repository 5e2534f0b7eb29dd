"""/api/v1/webhooks: CRUD, the write-only secret, the SSRF refusal, the delivery log."""

import pytest

from webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import SECRET, endpoint_for

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks"  # a public address: no DNS needed


def create(api, **body):
    return api.post(
        "/api/v1/webhooks", {"url": PUBLIC, "events": ["message.opened"], "secret": SECRET, **body}, format="json"
    )


def test_create_answers_201_without_the_secret(hooks_api):
    response = create(hooks_api, events=["message.opened", "message.clicked", "message.opened"])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "url", "events", "active", "description", "created_at", "updated_at"}
    assert body["events"] == ["message.opened", "message.clicked"] and body["active"] is True
    assert WebhookEndpoint.objects.get(pk=body["id"]).secret == SECRET


def test_list_has_the_original_shape(hooks_api):
    endpoint_for(PUBLIC)
    body = hooks_api.get("/api/v1/webhooks/").json()
    assert body["total"] == 1 and body["page"] == 1 and body["has_more"] is False
    assert [w["url"] for w in body["webhooks"]] == [PUBLIC] and "secret" not in body["webhooks"][0]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"events": []}, "events"),
        ({"events": ["message.exploded"]}, "events"),
        ({"events": "message.opened"}, "events"),
        ({"secret": "short"}, "secret"),
        ({"secret": None}, "secret"),
        ({"url": "ftp://93.184.215.14/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@93.184.215.14/"}, "url"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(hooks_api, body, field):
    response = create(hooks_api, **body)
    assert response.status_code == 400 and field in response.json()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://localhost/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
    ],
)
def test_private_addresses_are_refused(hooks_api, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = create(hooks_api, url=url)
    assert response.status_code == 400, response.json()
    assert "private" in response.json()["url"][0]


def test_private_addresses_are_allowed_when_the_setting_says_so(hooks_api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert create(hooks_api, url="http://127.0.0.1:8000/").status_code == 201


def test_a_host_that_does_not_resolve_is_refused(hooks_api):
    response = create(hooks_api, url="https://no-such-host.invalid/")
    assert response.status_code == 400 and "does not resolve" in response.json()["url"][0]


def test_update_checks_the_new_url_and_keeps_the_secret(hooks_api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    endpoint = endpoint_for(PUBLIC)
    assert (
        hooks_api.patch(f"/api/v1/webhooks/{endpoint.pk}", {"url": "http://10.0.0.1/"}, format="json").status_code
        == 400
    )
    response = hooks_api.patch(f"/api/v1/webhooks/{endpoint.pk}", {"active": False}, format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    endpoint.refresh_from_db()
    assert endpoint.url == PUBLIC and endpoint.secret == SECRET and not endpoint.active


def test_delete_removes_the_endpoint_and_its_log(hooks_api, sent_recipient):
    endpoint = endpoint_for(PUBLIC, events=["message.sent", "campaign.status_changed"])
    sent_recipient.campaign.status = "running"
    sent_recipient.campaign.save()
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
    assert hooks_api.delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("pk", ["999", "abc", "-1", "99999999999999999999"])
def test_unknown_endpoint_is_404(hooks_api, pk):
    assert hooks_api.get(f"/api/v1/webhooks/{pk}").status_code == 404
    assert hooks_api.get(f"/api/v1/webhooks/{pk}/deliveries").status_code == 404


def test_without_permission_is_403(client_for, viewer, anon_client):
    endpoint = endpoint_for(PUBLIC)
    assert client_for(viewer).get("/api/v1/webhooks").status_code == 403
    assert client_for(viewer).get(f"/api/v1/webhooks/{endpoint.pk}/deliveries").status_code == 403
    assert create(client_for(viewer)).status_code == 403
    assert anon_client.get("/api/v1/webhooks").status_code == 401


def test_deliveries_list_newest_first_filtered_with_pinned_queries(hooks_api, django_assert_num_queries):
    endpoint = endpoint_for(PUBLIC, events=["campaign.status_changed"])
    from tests.factories import CampaignFactory

    campaign = CampaignFactory()
    for status in ("scheduled", "draft", "running"):
        campaign.status = status
        campaign.save(update_fields=["status"])
    WebhookDelivery.objects.filter(pk=WebhookDelivery.objects.order_by("id").first().pk).update(status="failed")
    # 5 queries: the token, the user's and its groups' permissions (one query), the endpoint,
    # the count, the page.
    with django_assert_num_queries(5):
        body = hooks_api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries?page_size=2").json()
    assert body["total"] == 3 and body["has_more"] is True and len(body["deliveries"]) == 2
    first = body["deliveries"][0]
    assert {"id", "event_id", "type", "status", "attempts", "response_code", "created_at", "delivered_at"} <= set(first)
    assert first["type"] == "campaign.status_changed" and first["status"] == "pending" and first["attempts"] == 0
    assert body["deliveries"][0]["id"] > body["deliveries"][1]["id"]
    failed = hooks_api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries?status=failed").json()
    assert failed["total"] == 1
    assert hooks_api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries?status=nope").status_code == 400
    assert hooks_api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries?page=0").status_code == 400


def test_list_queries_are_pinned(hooks_api, django_assert_num_queries):
    for i in range(3):
        endpoint_for(f"{PUBLIC}/{i}")
    # 4 queries: the token, the user's and its groups' permissions (one query), the count, the page.
    with django_assert_num_queries(4):
        assert hooks_api.get("/api/v1/webhooks").json()["total"] == 3
