"""A lead's export and erasure (CONTRACT.md, Privacy and safety): everything stored comes out;
after erasure nothing keeps the address — no API answer, no admin page — but its hash stays
suppressed."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, Lead, LeadImport, LeadImportError, Suppression
from tests.factories import (
    CampaignRecipientFactory,
    EmailTrackingFactory,
    LeadFactory,
    SuppressionFactory,
    UserFactory,
)
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db

ADDRESS = "erase.me@example.org"
SECRETS = (b"erase.me", b"Erasable", b"203.0.113.77", b"PrivateAgent", b"555 0177")


@pytest.fixture
def person():
    lead = LeadFactory(email=ADDRESS, first_name="Erasable", last_name="Person", phone="+1 555 0177")
    sent = CampaignRecipientFactory(lead=lead, status="sent", sent_at=timezone.now(), opened_at=timezone.now())
    EmailTrackingFactory(
        campaign_recipient=sent, ip_address="203.0.113.77", user_agent="PrivateAgent/2", event_data={"x": ADDRESS}
    )
    EmailTrackingFactory(campaign_recipient=sent, event_type="reply", event_data={"text": "call me Erasable"})
    pending = CampaignRecipientFactory(lead=lead)
    SuppressionFactory(email=ADDRESS, reason=Suppression.Reason.UNSUBSCRIBED)
    other = CampaignRecipientFactory(campaign=sent.campaign)  # someone else, untouched
    return {"lead": lead, "sent": sent, "pending": pending, "other": other}


def test_export_holds_every_datum_about_the_lead(api, person):
    response = api.get(f"/api/v1/leads/{person['lead'].pk}/export")
    assert response.status_code == 200
    body = response.json()
    assert body["lead"]["email"] == ADDRESS and body["lead"]["phone"] == "+1 555 0177"
    assert {r["id"] for r in body["recipients"]} == {person["sent"].pk, person["pending"].pk}
    assert body["recipients"][0]["campaign"].startswith("camp_")
    assert [(e["ip_address"], e["user_agent"]) for e in body["events"]] == [("203.0.113.77", "PrivateAgent/2")]
    assert [e["event_data"]["text"] for e in body["replies"]] == ["call me Erasable"]
    assert body["suppression"]["reason"] == "unsubscribed"
    assert str(person["other"].email_address) not in response.content.decode()


def test_erase_removes_the_personal_data_everywhere_and_keeps_a_hash_suppressed(api, person):
    campaign = person["sent"].campaign
    api.get(f"/api/v1/campaigns/{campaign.pk}/analytics")  # cached with the address in it
    response = api.post(f"/api/v1/leads/{person['lead'].pk}/erase")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert (body["recipients"], body["recipients_stopped"], body["events"], body["replies"]) == (2, 1, 1, 1)

    assert not Lead.objects.filter(pk=person["lead"].pk).exists()
    sent = CampaignRecipient.objects.get(pk=person["sent"].pk)
    assert sent.email_address == f"erased-{sent.pk}@erased.invalid" and (sent.first_name, sent.last_name) == ("", "")
    assert sent.status == "sent"  # the campaign's history and counts stay
    assert CampaignRecipient.objects.get(pk=person["pending"].pk).status == "failed"
    event = EmailTracking.objects.get(campaign_recipient=sent)
    assert (event.ip_address, event.user_agent, event.event_data) == (None, "", {})
    assert not EmailTracking.objects.filter(event_type="reply").exists()
    assert not Suppression.objects.filter(email=ADDRESS).exists()
    hashed = Suppression.objects.get(email=Suppression.erased_key(ADDRESS))
    assert hashed.reason == "unsubscribed" and ADDRESS not in hashed.email
    assert CampaignRecipient.objects.get(pk=person["other"].pk).email_address == person["other"].email_address

    for path in (
        "/api/v1/leads",
        f"/api/v1/campaigns/{campaign.pk}/recipients",
        f"/api/v1/campaigns/{campaign.pk}/recipients/export",
        f"/api/v1/campaigns/{campaign.pk}/analytics",
        f"/api/v1/campaigns/tracking/{sent.pk}/events",
        "/api/v1/leads/export",
    ):
        answer = api.get(path)
        assert answer.status_code == 200, path
        content = b"".join(answer.streaming_content) if answer.streaming else answer.content
        for secret in SECRETS:
            assert secret not in content, (path, secret)


def test_no_admin_page_shows_the_address_after_erasure(api, person):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    campaign = person["sent"].campaign
    api.post(f"/api/v1/leads/{person['lead'].pk}/erase")
    for path in (
        "/admin/campaigns/lead/",
        f"/admin/campaigns/campaignrecipient/?campaign={campaign.pk}",
        f"/admin/campaigns/campaignrecipient/{person['sent'].pk}/change/",
        "/admin/campaigns/suppression/",
        f"/admin/tracking/emailtracking/?campaign={campaign.pk}",
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        for secret in SECRETS:
            assert secret not in page.content, (path, secret)


def test_erasure_also_removes_import_rows_carrying_the_address(api, person):
    lead_import = LeadImport.objects.create(headers=["email", "phone"], file_name="x.csv")
    LeadImportError.objects.create(lead_import=lead_import, line=2, message="bad phone", cells=[ADDRESS, "x" * 300])
    assert api.post(f"/api/v1/leads/{person['lead'].pk}/erase").json()["import_rows"] == 1
    assert not LeadImportError.objects.exists()


def test_export_and_erase_need_their_permissions(client_for, viewer, person):
    pk = person["lead"].pk
    assert client_for(viewer).get(f"/api/v1/leads/{pk}/export").status_code == 403
    marketer = UserFactory(username="only-leads")
    marketer.user_permissions.set(Permission.objects.filter(codename__in=["view_lead", "delete_lead"]))
    assert client_for(marketer).get(f"/api/v1/leads/{pk}/export").status_code == 403
    assert client_for(marketer).post(f"/api/v1/leads/{pk}/erase").status_code == 403
    assert Lead.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("key", ["999999", "abc", "0", "1" * 30])
def test_unknown_lead_answers_404(api, key):
    assert api.get(f"/api/v1/leads/{key}/export").status_code == 404
    assert api.post(f"/api/v1/leads/{key}/erase").status_code == 404


def test_campaign_counts_stay_after_erasure(api, person):
    campaign = person["sent"].campaign
    before = api.get(f"/api/v1/campaigns/{campaign.pk}/stats").json()
    api.post(f"/api/v1/leads/{person['lead'].pk}/erase")
    after = api.get(f"/api/v1/campaigns/{campaign.pk}/stats").json()
    assert (after["sent"], after["opened"]) == (before["sent"], before["opened"])
    assert Campaign.objects.filter(pk=campaign.pk).exists()
