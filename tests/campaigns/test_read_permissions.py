"""Reads need the model's view permission (CONTRACT.md, Auth): a signed-in user without it
gets 403 and sees no lead, recipient or event; endpoint 7's lead objects need add_lead and
change_lead; the Marketer group can run a campaign."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.factories import (
    CampaignFactory,
    CampaignRecipientFactory,
    EmailTrackingFactory,
    LeadFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    campaign = CampaignFactory()
    lead = LeadFactory(email="secret.person@example.com", phone="+1 555 0100")
    recipient = CampaignRecipientFactory(campaign=campaign, lead=lead, status="sent", sent_at=timezone.now())
    EmailTrackingFactory(campaign_recipient=recipient, ip_address="203.0.113.9", user_agent="SecretAgent/1.0")
    return {"c": campaign.pk, "l": lead.pk, "r": recipient.pk, "t": campaign.template_id}


# (path, the permissions that suffice)
READS = [
    ("/api/v1/leads", ["campaigns.view_lead"]),
    ("/api/v1/leads/{l}", ["campaigns.view_lead"]),
    ("/api/v1/leads/export", ["campaigns.view_lead"]),
    ("/api/v1/campaigns", ["campaigns.view_campaign"]),
    ("/api/v1/campaigns/{c}", ["campaigns.view_campaign"]),
    ("/api/v1/templates", ["campaigns.view_emailtemplate"]),
    ("/api/v1/templates/{t}", ["campaigns.view_emailtemplate"]),
    ("/api/v1/campaigns/{c}/recipients", ["campaigns.view_campaign", "campaigns.view_campaignrecipient"]),
    ("/api/v1/campaigns/{c}/recipients/export", ["campaigns.view_campaign", "campaigns.view_campaignrecipient"]),
    ("/api/v1/campaigns/tracking/{r}/events", ["campaigns.view_campaignrecipient", "tracking.view_emailtracking"]),
    ("/api/v1/campaigns/{c}/stats", ["campaigns.view_campaign"]),
    (
        "/api/v1/campaigns/{c}/analytics",
        ["campaigns.view_campaign", "campaigns.view_campaignrecipient", "tracking.view_emailtracking"],
    ),
    ("/api/v1/segments", ["campaigns.view_segment"]),
]


def user_with(perms, name="reader"):
    user = UserFactory(username=name)
    codenames = [p.split(".")[1] for p in perms]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.mark.parametrize(("path", "perms"), READS, ids=[p for p, _ in READS])
def test_read_without_view_permission_answers_403_and_shows_nothing(client_for, viewer, world, path, perms):
    response = client_for(viewer).get(path.format(**world))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    for secret in (b"secret.person", b"203.0.113.9", b"SecretAgent", b"555 0100"):
        assert secret not in response.content


@pytest.mark.parametrize(("path", "perms"), READS, ids=[p for p, _ in READS])
def test_read_with_exactly_its_view_permissions_answers_200(client_for, world, path, perms):
    assert client_for(user_with(perms)).get(path.format(**world)).status_code == 200


@pytest.mark.parametrize(("path", "perms"), [r for r in READS if len(r[1]) > 1], ids=lambda v: str(v))
def test_read_missing_one_of_its_permissions_answers_403(client_for, world, path, perms):
    for index, _ in enumerate(perms):
        partial = perms[:index] + perms[index + 1 :]
        user = user_with(partial, name=f"partial{index}")
        assert client_for(user).get(path.format(**world)).status_code == 403, partial


def test_preview_needs_view_template_and_view_lead_for_a_lead(client_for, world):
    url = f"/api/v1/templates/{world['t']}/preview"
    assert client_for(UserFactory(username="nobody")).post(url, {}, format="json").status_code == 403
    templater = user_with(["campaigns.view_emailtemplate"], name="templater")
    assert client_for(templater).post(url, {}, format="json").status_code == 200
    response = client_for(templater).post(url, {"lead_id": world["l"]}, format="json")
    assert response.status_code == 403
    assert b"secret.person" not in response.content


def test_test_send_with_a_lead_needs_view_lead(client_for, world):
    sender = user_with(["campaigns.change_campaign"], name="sender")
    response = client_for(sender).post(
        f"/api/v1/campaigns/{world['c']}/test", {"test_email": "qa@example.com", "lead_id": world["l"]}, format="json"
    )
    assert response.status_code == 403


# --- endpoint 7 with lead objects -------------------------------------------------------------


def test_adding_lead_objects_without_lead_permissions_answers_403_and_changes_no_lead(client_for, world):
    changer = user_with(["campaigns.change_campaign"], name="changer")
    campaign = CampaignFactory()
    body = {
        "leads": [{"email": "secret.person@example.com", "first_name": "Overwritten"}, {"email": "new@example.com"}]
    }
    response = client_for(changer).post(f"/api/v1/campaigns/{campaign.pk}/recipients", body, format="json")
    assert response.status_code == 403
    assert Lead.objects.get(pk=world["l"]).first_name != "Overwritten"
    assert not Lead.objects.filter(email="new@example.com").exists()
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


def test_adding_lead_objects_with_add_and_change_lead_works(client_for):
    user = user_with(["campaigns.change_campaign", "campaigns.add_lead", "campaigns.change_lead"], name="full")
    campaign = CampaignFactory()
    body = {"leads": [{"email": "new@example.com"}]}
    response = client_for(user).post(f"/api/v1/campaigns/{campaign.pk}/recipients", body, format="json")
    assert response.status_code == 200
    assert response.json()["successful"] == 1


@pytest.mark.parametrize("missing", ["add_lead", "change_lead"])
def test_adding_lead_objects_needs_both_lead_permissions(client_for, missing):
    perms = [
        p for p in ["campaigns.change_campaign", "campaigns.add_lead", "campaigns.change_lead"] if missing not in p
    ]
    campaign = CampaignFactory()
    response = client_for(user_with(perms)).post(
        f"/api/v1/campaigns/{campaign.pk}/recipients", {"leads": [{"email": "n@example.com"}]}, format="json"
    )
    assert response.status_code == 403


def test_adding_lead_ids_needs_only_change_campaign(client_for, world):
    campaign = CampaignFactory()
    changer = user_with(["campaigns.change_campaign"], name="changer")
    response = client_for(changer).post(
        f"/api/v1/campaigns/{campaign.pk}/recipients", {"lead_ids": [world["l"]]}, format="json"
    )
    assert response.status_code == 200


# --- the Marketer group --------------------------------------------------------------------------


def test_marketer_group_runs_a_campaign_and_cannot_touch_users_or_history(client_for, world):
    marketer = UserFactory(username="in-group")
    marketer.groups.add(Group.objects.get(name="Marketer"))
    client = client_for(marketer)
    assert client.get(f"/api/v1/campaigns/{world['c']}/analytics").status_code == 200
    assert client.get(f"/api/v1/campaigns/tracking/{world['r']}/events").status_code == 200
    campaign = client.post("/api/v1/campaigns", {"name": "M", "template_id": world["t"]}, format="json").json()
    added = client.post(
        f"/api/v1/campaigns/{campaign['id']}/recipients", {"leads": [{"email": "m@example.com"}]}, format="json"
    )
    assert added.status_code == 200
    assert Campaign.objects.get(pk=campaign["id"]).total_recipients == 1
    for perm in ("auth.add_user", "authtoken.add_token", "django_celery_beat.add_periodictask"):
        assert not marketer.has_perm(perm)
    for perm in ("campaigns.delete_campaignrecipient", "tracking.delete_emailtracking"):
        assert not marketer.has_perm(perm)
