"""The campaign page's "Add recipients…": a segment, the lead list's filters, pasted
addresses — each through the API's `recipients_add`, each reported (added / already there /
repeated / suppressed / invalid), bad input a form error or a message, never a 500."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignRecipient, Lead, Segment
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory, SuppressionFactory

pytestmark = pytest.mark.django_db
Status = Campaign.Status


def url(campaign) -> str:
    return reverse("admin:campaigns_campaign_add_recipients", args=[campaign.pk])


def texts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def emails(campaign) -> set[str]:
    return set(CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", flat=True))


def test_the_campaign_page_links_to_the_page_with_the_three_ways(admin_client):
    campaign = CampaignFactory()
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert url(campaign) in page

    html = admin_client.get(url(campaign)).content.decode()
    for form in ("ft-add-by-segment", "ft-add-by-filter", "ft-add-by-paste"):
        assert f'id="{form}"' in html


def test_pasted_addresses_are_added_new_ones_become_leads_and_each_skip_is_named(admin_client):
    campaign = CampaignFactory()
    known = LeadFactory(email="known@example.com", first_name="Kim")
    already = CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(email="already@example.com"))
    SuppressionFactory(email="gone@example.com")
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=1)
    pasted = (
        "Known@Example.com\n new@example.com , Ann Lee <ann@example.com>; already@example.com\n"
        "new@example.com\ngone@example.com\nnot-an-address\n\n"
    )

    response = admin_client.post(url(campaign), {"source": "paste", "paste-addresses": pasted}, follow=True)

    assert emails(campaign) == {already.email_address, "known@example.com", "new@example.com", "ann@example.com"}
    campaign.refresh_from_db()
    assert campaign.total_recipients == 4
    (text,) = texts(response)
    # gone@ is stored as a lead too (as an import does), then reported suppressed.
    assert "Added 3 recipient(s) (3 new lead(s) created)." in text
    assert "Not added: 1 already recipients, 1 repeated in the list, 1 suppressed, 1 invalid." in text
    assert "already@example.com" in text and "gone@example.com" in text and "not-an-address" in text
    assert Lead.objects.get(pk=known.pk).first_name == "Kim"  # a known lead keeps its fields
    assert Lead.objects.filter(email__in=["new@example.com", "ann@example.com"]).count() == 2


def test_a_segment_is_added_with_the_apis_report(admin_client):
    campaign = CampaignFactory()
    LeadFactory(email="a@example.com", tags=["vip"])
    LeadFactory(email="b@example.com", tags=["vip"])
    LeadFactory(email="c@example.com", tags=[])
    SuppressionFactory(email="b@example.com")
    segment = Segment.objects.create(
        name="VIPs", rules={"match": "all", "conditions": [{"field": "tags", "op": "has_any", "value": ["vip"]}]}
    )

    response = admin_client.post(url(campaign), {"source": "segment", "segment-segment": segment.pk}, follow=True)

    assert emails(campaign) == {"a@example.com"}
    (text,) = texts(response)
    assert "Added 1 recipient(s). Not added: 1 suppressed." in text


def test_lead_filters_are_the_lead_lists_and_validated_like_the_api(admin_client):
    campaign = CampaignFactory()
    LeadFactory(email="a@example.com", city="Austin", source="linkedin", status="new")
    LeadFactory(email="b@example.com", city="austin", source="google_maps", status="qualified")
    LeadFactory(email="c@example.com", city="Dallas", source="linkedin", status="new")

    response = admin_client.post(
        url(campaign),
        {"source": "filter", "filter-cities": "AUSTIN", "filter-sources": "linkedin, google_maps"},
        follow=True,
    )
    assert emails(campaign) == {"a@example.com", "b@example.com"}
    assert "Added 2 recipient(s)." in texts(response)[0]

    response = admin_client.post(
        url(campaign), {"source": "filter", "filter-statuses": ["qualified"], "filter-cities": "austin"}, follow=True
    )
    assert "Added 0 recipient(s). Not added: 1 already recipients." in texts(response)[0]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"source": "filter"}, "Choose at least one filter"),
        ({"source": "filter", "filter-created_after": "someday"}, "Enter a valid date/time."),
        ({"source": "filter", "filter-statuses": ["nonsense"]}, "Select a valid choice."),
        ({"source": "filter", "filter-cities": "x" * 101}, "Ensure this field has no more than 100 characters."),
        ({"source": "segment", "segment-segment": "999999"}, "Select a valid choice."),
        ({"source": "segment", "segment-segment": "x\x00"}, "Null characters are not allowed."),
        ({"source": "paste", "paste-addresses": " \n , ; "}, "Paste at least one address."),
        ({"source": "paste", "paste-addresses": "a@x.com\n" * 10_001}, "At most 10,000 addresses at a time"),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(admin_client, data, error):
    campaign = CampaignFactory()
    LeadFactory()
    before = Lead.objects.count()

    response = admin_client.post(url(campaign), data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 0
    assert Lead.objects.count() == before


def test_odd_requests_never_answer_500(admin_client):
    campaign = CampaignFactory()
    assert admin_client.post(url(campaign), {"source": "nonsense"}).status_code == 200
    assert admin_client.post(url(campaign), {"source": "paste", "paste-addresses": "a\x00@x.com"}).status_code in (
        200,
        302,
    )
    assert admin_client.get(reverse("admin:campaigns_campaign_add_recipients", args=["x%00"])).status_code == 404
    assert admin_client.get(reverse("admin:campaigns_campaign_add_recipients", args=["99999999999"])).status_code == 404
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 0


def test_a_campaign_that_no_longer_accepts_recipients_says_so_and_changes_nothing(admin_client):
    campaign = CampaignFactory(status=Status.RUNNING)
    LeadFactory(email="a@example.com")

    page = admin_client.get(url(campaign)).content.decode()
    assert "ft-not-accepting" in page and "ft-add-by-paste" not in page
    response = admin_client.post(url(campaign), {"source": "paste", "paste-addresses": "a@example.com"}, follow=True)

    assert any("Nothing added: Recipients cannot be added to a campaign that is running." in t for t in texts(response))
    assert emails(campaign) == set()


def test_a_marketer_adds_pasted_addresses_and_a_user_without_lead_rights_may_not(marketer_client, client):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    campaign = CampaignFactory()
    response = marketer_client.post(url(campaign), {"source": "paste", "paste-addresses": "m@example.com"}, follow=True)
    assert emails(campaign) == {"m@example.com"}
    assert "1 new lead(s) created" in texts(response)[0]

    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["change_campaign", "view_campaign"]))
    client.force_login(clerk)
    assert client.post(url(campaign), {"source": "paste", "paste-addresses": "z@example.com"}).status_code == 403
    assert 'id="ft-add-by-paste"' not in client.get(url(campaign)).content.decode()
    assert not Lead.objects.filter(email="z@example.com").exists()
