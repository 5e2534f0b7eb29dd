"""The `Marketer` group: what running campaigns takes, no users, tokens or beat schedules;
history read-only and undeletable; read-only campaigns without Save; the site's header."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignLinkFactory, CampaignRecipientFactory, EmailTrackingFactory

pytestmark = pytest.mark.django_db


def test_the_index_shows_campaign_work_and_hides_users_tokens_and_beat(marketer_client):
    page = marketer_client.get(reverse("admin:index")).content.decode()

    for model in ("campaign", "emailtemplate", "lead", "segment", "suppression", "campaignrecipient", "emailtracking"):
        assert f"/{model}/" in page, model
    for hidden in ("/auth/user/", "/auth/group/", "/authtoken/", "/django_celery_beat/"):
        assert hidden not in page, hidden
    assert "FlipTech Campaigns" in page


@pytest.mark.parametrize(
    "url",
    [
        "admin:auth_user_changelist",
        "admin:auth_group_changelist",
        "admin:authtoken_tokenproxy_changelist",
        "admin:django_celery_beat_periodictask_changelist",
    ],
)
def test_a_marketer_cannot_open_users_tokens_or_beat(marketer_client, url):
    assert marketer_client.get(reverse(url)).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "admin:campaigns_campaign_add",
        "admin:campaigns_emailtemplate_add",
        "admin:campaigns_lead_add",
        "admin:campaigns_segment_add",
        "admin:campaigns_lead_import",
        "admin:campaigns_suppression_add",
    ],
)
def test_a_marketer_can_open_what_running_campaigns_takes(marketer_client, url):
    assert marketer_client.get(reverse(url)).status_code == 200


def history_rows():
    recipient = CampaignRecipientFactory()
    return {
        "campaignrecipient": recipient,
        "campaignlink": CampaignLinkFactory(campaign=recipient.campaign),
        "emailtracking": EmailTrackingFactory(campaign_recipient=recipient),
    }


@pytest.mark.parametrize("who", ["marketer_client", "admin_client"])
def test_history_is_read_only_and_undeletable_for_everyone(request, who):
    client = request.getfixturevalue(who)
    for model, row in history_rows().items():
        app = "tracking" if model == "emailtracking" else "campaigns"
        page = client.get(reverse(f"admin:{app}_{model}_change", args=[row.pk]))
        assert page.status_code == 200, model
        assert 'name="_save"' not in page.content.decode(), model
        assert client.get(reverse(f"admin:{app}_{model}_delete", args=[row.pk])).status_code == 403, model
        listing = client.get(reverse(f"admin:{app}_{model}_changelist")).content.decode()
        assert "delete_selected" not in listing, model
        client.post(
            reverse(f"admin:{app}_{model}_changelist"), {"action": "delete_selected", "_selected_action": [row.pk]}
        )
        assert type(row).objects.filter(pk=row.pk).exists(), model


@pytest.mark.parametrize(
    ("status", "save_shown"),
    [("draft", True), ("paused", True), ("running", False), ("completed", False), ("failed", False)],
)
def test_only_editable_campaigns_show_save(marketer_client, status, save_shown):
    campaign = CampaignFactory(status=status)

    page = marketer_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()

    assert ('name="_save"' in page) is save_shown


def test_a_marketer_can_pause_a_running_campaign_from_its_page(marketer_client):
    campaign = CampaignFactory(status=Campaign.Status.RUNNING)
    CampaignRecipientFactory(campaign=campaign)

    marketer_client.post(reverse("admin:campaigns_campaign_pause", args=[campaign.pk]))

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 1
