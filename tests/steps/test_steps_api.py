"""`/api/v1/campaigns/{id}/steps` and the recipients' sequence fields."""

from datetime import timedelta

import pytest

from campaigns.models import Campaign, CampaignStep
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    return CampaignFactory(status=Campaign.Status.DRAFT)


def url(campaign, sid=None):
    base = f"/api/v1/campaigns/{campaign.campaign_id}/steps"
    return base if sid is None else f"{base}/{sid}"


def test_steps_are_added_in_order_and_listed_unpaginated(api, campaign):
    template = EmailTemplateFactory()
    first = api.post(url(campaign), {"delay": "P3D", "template_id": template.pk}, format="json")
    second = api.post(
        url(campaign) + "/",
        {"delay": "PT2H", "template_id": template.pk, "condition": "no_open", "subject": "One more"},
        format="json",
    )
    assert first.status_code == 201, first.json()
    assert first.json() | {"id": 0, "created_at": "", "updated_at": ""} == {
        "id": 0,
        "position": 1,
        "delay": "P3D",
        "condition": "no_reply",
        "template_id": template.pk,
        "subject": "",
        "created_at": "",
        "updated_at": "",
    }
    assert second.json()["position"] == 2 and second.json()["condition"] == "no_open"
    listed = api.get(url(campaign)).json()
    assert [s["position"] for s in listed["steps"]] == [1, 2] and set(listed) == {"steps"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delay": "3 days"}, "delay"),
        ({"delay": "-P1D"}, "delay"),
        ({"delay": 3}, "delay"),
        ({"delay": "P1D", "condition": "maybe"}, "condition"),
        ({"delay": "P1D", "template_id": 999999}, "template_id"),
        ({"delay": "P1D", "template_id": "1e308"}, "template_id"),
        ({}, "delay"),
    ],
)
def test_a_bad_step_is_a_400_naming_the_field(api, campaign, body, field):
    body = {"template_id": EmailTemplateFactory().pk, **body}
    response = api.post(url(campaign), body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not CampaignStep.objects.exists()


def test_steps_change_while_paused_but_not_while_running(api, campaign):
    template = EmailTemplateFactory()
    step = CampaignStep.objects.create(campaign=campaign, position=1, delay=timedelta(days=1), template=template)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    assert api.patch(url(campaign, step.pk), {"delay": "PT30S"}, format="json").json()["delay"] == "PT30S"
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    for response in (
        api.patch(url(campaign, step.pk), {"delay": "PT1M"}, format="json"),
        api.post(url(campaign), {"delay": "P1D", "template_id": template.pk}, format="json"),
        api.delete(url(campaign, step.pk)),
    ):
        assert response.status_code == 409 and response.json()["code"] == "invalid_state"
    assert api.get(url(campaign, step.pk)).json()["delay"] == "PT30S"


def test_removing_a_step_moves_the_later_ones_up(api, campaign):
    template = EmailTemplateFactory()
    steps = [
        CampaignStep.objects.create(campaign=campaign, position=i, delay=timedelta(days=1), template=template)
        for i in (1, 2, 3)
    ]
    response = api.delete(url(campaign, steps[0].pk))
    assert response.status_code == 200
    assert [(s["id"], s["position"]) for s in response.json()["steps"]] == [(steps[1].pk, 1), (steps[2].pk, 2)]


def test_an_unknown_step_or_campaign_is_a_404_and_a_viewer_gets_403(api, campaign, client_for, viewer):
    assert api.get(url(campaign, 123456)).status_code == 404
    assert api.get(url(campaign, "x")).status_code == 404
    assert api.get("/api/v1/campaigns/camp_000000000000/steps").status_code == 404
    assert client_for(viewer).get(url(campaign)).status_code == 403


def test_recipients_show_their_sequence(api, campaign):
    CampaignRecipientFactory(campaign=campaign)
    row = api.get(f"/api/v1/campaigns/{campaign.pk}/recipients").json()["recipients"][0]
    assert (row["current_step"], row["next_step_at"], row["sequence_status"], row["stop_reason"]) == (
        None,
        None,
        "active",
        "",
    )
