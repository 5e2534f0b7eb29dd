"""The template editor: live preview of unsaved edits, the preview lead by email, merge tags."""

import pytest
from django.urls import reverse

from campaigns.models import EmailTemplate
from tests.factories import EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db

PREVIEW = "admin:campaigns_emailtemplate_preview_draft"


def test_the_unsaved_edits_render_for_the_lead_chosen_by_email(marketer_client):
    template = EmailTemplateFactory(subject="Saved subject")
    LeadFactory(email="ann@example.com", first_name="Ann", attributes={"listing": "2BR"})

    response = marketer_client.post(
        reverse(PREVIEW),
        {
            "subject": "Hi {{ lead.first_name }}",
            "body_html": "<p>Your {{ lead.attributes.listing }}</p>",
            "body_text": "",
            "lead_email": " ANN@example.com ",
        },
    )

    assert response.status_code == 200
    data = response.json()
    assert data["subject"] == "Hi Ann"
    assert "Your 2BR" in data["html"] and "Your 2BR" in data["text"]
    assert data["lead"] == "ann@example.com"
    template.refresh_from_db()
    assert template.subject == "Saved subject"  # nothing written


def test_an_unknown_email_previews_with_sample_data(marketer_client):
    data = marketer_client.post(
        reverse(PREVIEW), {"subject": "Hi {{ lead.first_name }}", "body_html": "<p>x</p>", "lead_email": "nobody@x.y"}
    ).json()

    assert (data["subject"], data["lead"]) == ("Hi Jane", None)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": "Hi", "body_html": "{% if %}"}, "body_html"),
        ({"subject": "Hi\r\nBcc: x@y", "body_html": "<p>x</p>"}, "subject"),
        ({"subject": "Hi", "body_html": "<p>\x00</p>"}, "body_html"),
    ],
)
def test_a_broken_draft_answers_400_with_the_field(marketer_client, fields, field):
    response = marketer_client.post(reverse(PREVIEW), fields)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not EmailTemplate.objects.exists()


def test_the_preview_needs_a_post_and_a_permission(marketer_client, client):
    assert marketer_client.get(reverse(PREVIEW)).status_code == 405
    assert client.post(reverse(PREVIEW), {"subject": "x"}).status_code == 302  # to the login page


def test_lead_suggestions_by_email_prefix(marketer_client):
    for email in ("ann@example.com", "anna@example.com", "bob@example.com"):
        LeadFactory(email=email)
    url = reverse("admin:campaigns_emailtemplate_lead_search")

    assert marketer_client.get(url, {"q": "AN"}).json()["results"] == ["ann@example.com", "anna@example.com"]
    assert marketer_client.get(url, {"q": "a"}).json()["results"] == []  # too short to be useful
    assert marketer_client.get(url, {"q": "an\x00"}).json()["results"] == []


def test_the_editor_lists_merge_tags_with_attribute_keys(marketer_client):
    LeadFactory(attributes={"listing": "2BR", "bad key": 1})

    page = marketer_client.get(reverse("admin:campaigns_emailtemplate_add")).content.decode()

    assert 'id="ft-merge-tags"' in page
    for tag in ("{{ lead.first_name }}", "{{ unsubscribe_url }}", "{{ lead.attributes.listing }}"):
        assert f'data-tag="{tag}"' in page, tag
    assert "bad key" not in page
    assert "campaigns/template_editor.js" in page
