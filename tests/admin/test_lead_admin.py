"""Leads in the admin: tags as a line, attributes as lines or JSON, the suppression state
with suppress / unsuppress, the campaigns received and the events."""

import pytest
from django.urls import reverse

from campaigns.models import Lead, Suppression
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTrackingFactory, LeadFactory

pytestmark = pytest.mark.django_db


def change_url(lead):
    return reverse("admin:campaigns_lead_change", args=[lead.pk])


def form_data(lead, **overrides):
    data = {
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "phone": lead.phone,
        "city": lead.city,
        "source": lead.source,
        "status": lead.status,
        "tags": "",
        "attributes": "",
    }
    data.update(overrides)
    return data


def form_errors(response):
    return response.context["adminform"].form.errors


def test_tags_typed_as_a_comma_separated_line_are_stored_as_a_list(marketer_client):
    lead = LeadFactory(tags=[])

    response = marketer_client.post(change_url(lead), form_data(lead, tags="vip, roofing;  vip ,"))

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.tags == ["vip", "roofing"]


def test_the_form_shows_tags_as_a_line_and_saving_unchanged_changes_nothing(marketer_client):
    lead = LeadFactory(tags=["vip", "roofing"], attributes={"listing": "2BR", "employees": 12})

    page = marketer_client.get(change_url(lead)).content.decode()

    assert 'value="vip, roofing"' in page
    assert "&quot;employees&quot;: 12" in page  # a number: shown as JSON, kept a number
    form = marketer_client.get(change_url(lead)).context["adminform"].form
    response = marketer_client.post(
        change_url(lead), form_data(lead, tags=form["tags"].value(), attributes=form["attributes"].value())
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.attributes == {"listing": "2BR", "employees": 12}
    assert lead.tags == ["vip", "roofing"]


def test_attributes_as_key_value_lines(marketer_client):
    lead = LeadFactory()

    marketer_client.post(
        change_url(lead), form_data(lead, attributes="listing: 2BR apartment\nurl: https://x.example/a?b=1\n")
    )

    lead.refresh_from_db()
    assert lead.attributes == {"listing": "2BR apartment", "url": "https://x.example/a?b=1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1', "Not valid JSON"),
        ("[1, 2]", "Line 1: write “key: value”."),
        ("a: 1\na: 2", "Line 2: “a” is given twice."),
        ('{"a": "\\u0000"}', "Attributes nul characters are not allowed."),
    ],
)
def test_bad_attributes_are_refused_with_the_reason(marketer_client, text, message):
    lead = LeadFactory(attributes={"keep": "me"})

    response = marketer_client.post(change_url(lead), form_data(lead, attributes=text))

    assert response.status_code == 200
    assert message in str(form_errors(response)["attributes"])
    lead.refresh_from_db()
    assert lead.attributes == {"keep": "me"}


def test_too_many_tags_are_refused(marketer_client):
    lead = LeadFactory()

    response = marketer_client.post(change_url(lead), form_data(lead, tags=", ".join(f"t{i}" for i in range(101))))

    assert "at most 100" in str(form_errors(response)["tags"])


def test_the_tag_filter_lists_tags_and_filters_by_one(marketer_client):
    LeadFactory(email="a@example.com", tags=["vip", "roofing"])
    LeadFactory(email="b@example.com", tags=["roofing"])
    LeadFactory(email="c@example.com", tags=[])

    response = marketer_client.get(reverse("admin:campaigns_lead_changelist") + "?tag=vip")

    assert [lead.email for lead in response.context["cl"].result_list] == ["a@example.com"]
    page = response.content.decode()
    assert "?tag=roofing" in page


def test_the_lead_page_shows_suppression_and_suppress_unsuppress_round_trip(marketer_client):
    lead = LeadFactory(email="ann@example.com")

    page = marketer_client.get(change_url(lead)).content.decode()
    assert "Not suppressed" in page

    marketer_client.post(reverse("admin:campaigns_lead_suppress", args=[lead.pk]))
    row = Suppression.objects.get(email="ann@example.com")
    assert row.reason == "manual"
    assert "Suppressed: Manual" in marketer_client.get(change_url(lead)).content.decode()

    marketer_client.post(reverse("admin:campaigns_lead_unsuppress", args=[lead.pk]))
    assert not Suppression.objects.exists()


def test_unsuppress_keeps_an_unsubscribe(marketer_client):
    lead = LeadFactory(email="gone@example.com")
    Suppression.objects.create(email="gone@example.com", reason="unsubscribed")

    response = marketer_client.post(
        reverse("admin:campaigns_lead_changelist"),
        {"action": "unsuppress_selected", "_selected_action": [lead.pk]},
        follow=True,
    )

    assert Suppression.objects.filter(email="gone@example.com", reason="unsubscribed").exists()
    assert "stay suppressed" in response.content.decode()


def test_suppress_action_on_the_list_suppresses_each_selected_lead_once(marketer_client):
    leads = [LeadFactory() for _ in range(3)]
    Suppression.objects.create(email=leads[0].email, reason="hard_bounce")

    response = marketer_client.post(
        reverse("admin:campaigns_lead_changelist"),
        {"action": "suppress_selected", "_selected_action": [lead.pk for lead in leads]},
        follow=True,
    )

    assert Suppression.objects.count() == 3
    assert Suppression.objects.get(email=leads[0].email).reason == "hard_bounce"  # the first reason stays
    assert "Suppressed 2 address(es). 1 already were." in response.content.decode()


def test_the_list_marks_suppressed_leads_in_one_query(marketer_client, django_assert_max_num_queries):
    for _ in range(5):
        lead = LeadFactory()
    Suppression.objects.create(email=lead.email, reason="complaint")
    marketer_client.get(reverse("admin:campaigns_lead_changelist"))

    # As the admin's list (session, user, permissions, count, page, filters' choices, the
    # estimate on PostgreSQL) plus one for the page's suppressions, whatever the page's size.
    with django_assert_max_num_queries(14):
        response = marketer_client.get(reverse("admin:campaigns_lead_changelist"))

    flags = {lead.email: lead.suppressed for lead in response.context["cl"].result_list}
    assert flags[lead.email] == "complaint"
    assert sum(1 for v in flags.values() if v) == 1


def test_the_lead_page_lists_campaigns_received_with_status_and_events(marketer_client):
    lead = LeadFactory(email="ann@example.com")
    spring = CampaignFactory(name="Spring offer")
    recipient = CampaignRecipientFactory(campaign=spring, lead=lead, email_address=lead.email, status="sent")
    CampaignRecipientFactory(campaign=CampaignFactory(name="Summer offer"), lead=lead, email_address=lead.email)
    CampaignRecipientFactory(campaign=CampaignFactory(name="Not hers"))
    EmailTrackingFactory(campaign_recipient=recipient, event_type="click", url="https://fliptech.example/offer")

    page = marketer_client.get(change_url(lead)).content.decode()

    received = page[page.index('id="ft-received"') : page.index('id="ft-events"')]
    assert "Spring offer" in received and "Summer offer" in received and "Not hers" not in received
    assert "ft-status-sent" in received and "ft-status-pending" in received
    events = page[page.index('id="ft-events"') :]
    assert "https://fliptech.example/offer" in events and "Click" in events


def test_the_lead_page_queries_do_not_grow_with_its_history(marketer_client, django_assert_max_num_queries):
    lead = LeadFactory()
    for _ in range(8):
        r = CampaignRecipientFactory(lead=lead, email_address=lead.email)
        EmailTrackingFactory(campaign_recipient=r)
    marketer_client.get(change_url(lead))

    # session, user, group permissions, the lead (twice: change_view, the form), its suppression
    # (the page, the read-only field), received (one join), events (one join), content types
    with django_assert_max_num_queries(14):
        marketer_client.get(change_url(lead))
    assert Lead.objects.count() == 1
