"""The webhook screens of the admin: endpoints (SSRF-checked, the secret write-only) and the
delivery log with "retry now"."""

import pytest
from django.urls import reverse

from tests.factories import CampaignFactory
from webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import SECRET, endpoint_for

pytestmark = pytest.mark.django_db
PUBLIC = "https://93.184.215.14/hooks"


def form(**fields):
    return {"url": PUBLIC, "events": ["message.opened"], "secret": SECRET, "active": "on", "description": "", **fields}


def test_an_endpoint_is_added_and_its_secret_never_shown(admin_client):
    response = admin_client.post(reverse("admin:webhooks_webhookendpoint_add"), form())
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == SECRET and endpoint.events == ["message.opened"]
    page = admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200 and SECRET not in page.content.decode()
    # Saved again with an empty secret: the secret stays.
    admin_client.post(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]), form(secret=""))
    endpoint.refresh_from_db()
    assert endpoint.secret == SECRET


@pytest.mark.parametrize("fields", [{"url": "http://169.254.169.254/"}, {"secret": ""}, {"events": []}])
def test_a_bad_endpoint_is_refused_with_a_message(admin_client, settings, fields):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = admin_client.post(reverse("admin:webhooks_webhookendpoint_add"), form(**fields))
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_lists_filters_and_retries(admin_client):
    endpoint = endpoint_for(PUBLIC, events=["campaign.status_changed"])
    campaign = CampaignFactory()
    for status in ("scheduled", "draft"):
        campaign.status = status
        campaign.save(update_fields=["status"])
    failed, _ = WebhookDelivery.objects.order_by("id")
    WebhookDelivery.objects.filter(pk=failed.pk).update(status="failed", attempts=30, next_attempt_at=None)

    url = reverse("admin:webhooks_webhookdelivery_changelist")
    page = admin_client.get(f"{url}?endpoint={endpoint.pk}")
    assert (
        page.status_code == 200 and page.content.decode().count('<td class="field-type">Campaign Status Changed') == 2
    )
    assert admin_client.get(f"{url}?endpoint=nonsense").status_code == 200
    assert admin_client.get(reverse("admin:webhooks_webhookendpoint_changelist")).status_code == 200

    admin_client.post(url, {"action": "retry_now", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.next_attempt_at is not None
    assert admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[failed.pk])).status_code == 200
