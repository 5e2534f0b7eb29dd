"""`ab_test` on campaigns, the split at launch, and the A/B endpoints."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.abtest import assign, decide
from campaigns.models import ABTestDecision, Campaign, CampaignRecipient, EmailTemplate
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db
R = CampaignRecipient.Status

AB = {
    "variants": [{"name": "A", "subject": "Subject A"}, {"name": "B", "subject": "Subject B", "from_name": "Bea"}],
    "test_percentage": 20,
    "metric": "opens",
    "duration": "PT2H",
    "winner_selection": "auto",
}


def campaign_with(n, ab=AB, **fields):
    campaign = CampaignFactory(ab_test=None, **fields)
    for _ in range(n):
        CampaignRecipientFactory(campaign=campaign)
    if ab is not None:
        Campaign.objects.filter(pk=campaign.pk).update(ab_test=ab)
        campaign.refresh_from_db()
    return campaign


def patch(api, campaign, body):
    return api.patch(f"/api/v1/campaigns/{campaign.pk}", body, format="json")


def test_ab_test_is_set_on_a_draft_and_shown_normalised(api):
    campaign = campaign_with(0, ab=None)
    template = EmailTemplateFactory()
    body = {"variants": [{"name": "A"}, {"name": "B", "template_id": template.pk}], "duration": "P1DT2H"}
    response = patch(api, campaign, {"ab_test": body})
    assert response.status_code == 200, response.json()
    assert response.json()["ab_test"] == {
        "variants": [{"name": "A"}, {"name": "B", "template_id": template.pk}],
        "test_percentage": 20,
        "metric": "opens",
        "duration": "P1DT02H00M00S",
        "winner_selection": "auto",
    }
    assert patch(api, campaign, {"ab_test": None}).json()["ab_test"] is None


@pytest.mark.parametrize(
    "ab, field",
    [
        ({"variants": [{"name": "A"}]}, "variants"),
        ({"variants": [{"name": v} for v in "ABCDEF"]}, "variants"),
        ({"variants": [{"name": "A"}, {"name": "a"}]}, "variants"),
        ({"variants": [{"name": "A"}, {"name": "B", "template_id": 999999}]}, "variants"),
        ({"variants": [{"name": "A"}, {"name": "B", "subject": "two\nlines"}]}, "variants"),
        ({"variants": [{"name": "A"}, {"name": "B"}], "test_percentage": 0}, "test_percentage"),
        ({"variants": [{"name": "A"}, {"name": "B"}], "test_percentage": 51}, "test_percentage"),
        ({"variants": [{"name": "A"}, {"name": "B"}], "metric": "revenue"}, "metric"),
        ({"variants": [{"name": "A"}, {"name": "B"}], "duration": "4 hours"}, "duration"),
        ({"variants": [{"name": "A"}, {"name": "B"}], "duration": "PT0S"}, "duration"),
        ({"variants": [{"name": "A"}, {"name": "B"}], "duration": "P90D"}, "duration"),
        ({"variants": [{"name": "A"}, {"name": "B"}], "winner_selection": "vote"}, "winner_selection"),
        ("not an object", "non_field_errors"),
    ],
)
def test_bad_ab_test_is_a_400_and_changes_nothing(api, ab, field):
    campaign = campaign_with(0, ab=None)
    response = patch(api, campaign, {"ab_test": ab})
    assert response.status_code == 400, response.json()
    assert field in response.json()["ab_test"]
    campaign.refresh_from_db()
    assert campaign.ab_test is None


def test_ab_test_cannot_change_once_running(api):
    campaign = campaign_with(1)
    Campaign.objects.filter(pk=campaign.pk).update(status="paused")
    response = patch(api, campaign, {"ab_test": None})
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_launch_splits_the_test_share_evenly_and_holds_the_rest(api):
    campaign = campaign_with(50)
    assert api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json").status_code == 200
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert rows.filter(variant=0).count() == 5 and rows.filter(variant=1).count() == 5
    held = rows.filter(variant__isnull=True)
    assert held.count() == 40 and set(held.values_list("status", flat=True)) == {R.PENDING}
    assert set(held.values_list("not_before", flat=True)) == {assign.HELD}


def test_the_split_is_one_statement_and_random():
    campaign = campaign_with(40)
    with CaptureQueriesContext(connection) as queries:
        assert assign.split(campaign=campaign, config={**AB, "test_percentage": 50}) == 20
    # The count of pending recipients, then the one UPDATE that splits and holds.
    assert len(queries) == 2 and queries[1]["sql"].lstrip().upper().startswith("UPDATE")
    first = set(CampaignRecipient.objects.filter(campaign=campaign, variant=0).values_list("pk", flat=True))
    CampaignRecipient.objects.filter(campaign=campaign).update(variant=None, not_before=None)
    assign.split(campaign=campaign, config={**AB, "test_percentage": 50})
    second = set(CampaignRecipient.objects.filter(campaign=campaign, variant=0).values_list("pk", flat=True))
    assert first != second  # 1 in C(40, 10) to be equal by chance


def test_a_small_list_gets_at_least_one_per_variant():
    assert assign.test_size(3, 1, 2) == 2 and assign.test_size(1, 10, 2) == 1 and assign.test_size(1000, 10, 5) == 100


def test_a_variant_that_does_not_render_refuses_the_launch(api):
    bad = EmailTemplate.objects.create(name="bad", subject="x", body_html="{% if %}")
    campaign = campaign_with(4, ab={**AB, "variants": [{"name": "A"}, {"name": "B", "template_id": bad.pk}]})
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    assert response.status_code == 400
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"
    assert not CampaignRecipient.objects.filter(campaign=campaign, variant__isnull=False).exists()


def people_opened(campaign, variant, n):
    ids = list(CampaignRecipient.objects.filter(campaign=campaign, variant=variant).values_list("pk", flat=True)[:n])
    CampaignRecipient.objects.filter(pk__in=ids).update(opened_at=timezone.now())


def sent_test_share(campaign):
    CampaignRecipient.objects.filter(campaign=campaign, variant__isnull=False).update(
        status=R.SENT, sent_at=timezone.now()
    )


def test_ab_endpoint_shows_the_variants_side_by_side(api):
    campaign = campaign_with(100)
    api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    sent_test_share(campaign)
    people_opened(campaign, 1, 6)
    people_opened(campaign, 0, 1)
    CampaignRecipient.objects.filter(campaign=campaign, variant=0).update(machine_open_count=5)  # never counts
    body = api.get(f"/api/v1/campaigns/{campaign.campaign_id}/ab").json()
    assert body["status"] == "testing" and body["winner"] is None and body["leader"] == "B"
    a, b = body["variants"]
    assert a == {"name": "A", "recipients": 10, "sent": 10, "opened": 1, "clicked": 0, "replied": 0, "rate": 10.0}
    assert b["opened"] == 6 and b["rate"] == 60.0
    assert body["p_value"] == pytest.approx(0.019076, abs=1e-5) and body["significant"] is True


def test_beat_decides_after_the_duration_and_releases_the_rest_with_the_winner(api):
    campaign = campaign_with(30)
    api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    sent_test_share(campaign)
    people_opened(campaign, 1, 2)
    assert decide.decide_due() == []  # two hours have not passed
    Campaign.objects.filter(pk=campaign.pk).update(started_at=timezone.now() - timedelta(hours=2, seconds=1))
    assert decide.decide_due() == [campaign.pk]
    assert decide.decide_due() == []  # decided once
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert rows.filter(variant__isnull=True).count() == 0
    assert rows.filter(status=R.PENDING, variant=1, not_before__isnull=True).count() == 24
    decision = ABTestDecision.objects.get(campaign=campaign)
    assert (decision.winner, decision.decided_by) == ("B", "auto")
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/ab").json()["status"] == "decided"


def test_manual_selection_waits_for_a_person(api):
    campaign = campaign_with(10, ab={**AB, "winner_selection": "manual"})
    assert api.post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "A"}, format="json").status_code == 409
    api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    Campaign.objects.filter(pk=campaign.pk).update(started_at=timezone.now() - timedelta(days=1))
    assert decide.decide_due() == []
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "Z"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_variant"
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "A"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["winner"] == "A" and response.json()["decided_by"] == "manual"
    again = api.post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "B"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    assert CampaignRecipient.objects.filter(campaign=campaign, variant=0).count() == 9  # 1 tested + 8 held


def test_recipients_added_while_paused_are_held_then_get_the_winner(api):
    campaign = campaign_with(10)
    api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    api.post(f"/api/v1/campaigns/{campaign.pk}/pause", {}, format="json")
    lead = LeadFactory()
    assert (
        api.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"lead_ids": [lead.pk]}, format="json").status_code
        == 200
    )
    api.post(f"/api/v1/campaigns/{campaign.pk}/resume", {}, format="json")
    added = CampaignRecipient.objects.get(campaign=campaign, lead=lead)
    assert added.variant is None and added.not_before == assign.HELD
    api.post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "B"}, format="json")
    added.refresh_from_db()
    assert added.variant == 1 and added.not_before is None


def test_no_ab_test_is_404_and_permissions_hold(api, client_for, viewer):
    campaign = campaign_with(1, ab=None)
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/ab").status_code == 404
    assert api.get("/api/v1/campaigns/999999/ab").status_code == 404
    assert client_for(viewer).get(f"/api/v1/campaigns/{campaign.pk}/ab").status_code == 403
    assert client_for(viewer).post(f"/api/v1/campaigns/{campaign.pk}/ab/winner", {"variant": "A"}).status_code == 403


def test_the_campaign_page_shows_the_variants_side_by_side(api, admin_client):
    campaign = campaign_with(20)
    api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    sent_test_share(campaign)
    people_opened(campaign, 0, 2)
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'id="ft-ab"' in page and "100.0%" in page and "A (leading)" in page
    assert "confidence" in page
