"""Email templates CRUD under /api/v1/templates, and POST /api/v1/templates/{id}/preview."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from campaigns.models import EmailTemplate
from tests.factories import CampaignFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates"
FIELDS = {"id", "name", "description", "category", "subject", "body_html", "body_text", "created_at", "updated_at"}
GOOD = {
    "name": "Welcome",
    "description": "First touch",
    "category": "offer",
    "subject": "Hello {{ lead.first_name|default:'there' }}",
    "body_html": "<p>Hi {{ lead.first_name }}</p><p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>",
}


def test_create_a_template(api):
    response = api.post(URL, GOOD, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert (body["name"], body["body_text"]) == ("Welcome", "")
    assert EmailTemplate.objects.get().subject == GOOD["subject"]


@pytest.mark.parametrize("field", ["subject", "body_html", "body_text"])
def test_a_template_that_does_not_compile_answers_400_with_line_and_message(api, field):
    source = "ok\n{% if lead.first_name %}unclosed" if field != "subject" else "Hi {% if x %}"
    response = api.post(URL, {**GOOD, field: source}, format="json")

    assert response.status_code == 400
    [message] = response.json()[field]
    assert "line" in message
    assert not EmailTemplate.objects.exists()


def test_a_compile_error_reports_its_line_number(api):
    response = api.post(
        URL, {**GOOD, "body_html": "<p>one</p>\n<p>two</p>\n{{ lead.first_name|nosuchfilter }}"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["body_html"][0].startswith("line 3")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "Hello\r\nBcc: victim@example.com"}, "subject"),
        ({"subject": "x" * 256}, "subject"),
        ({"subject": "nul\x00"}, "subject"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 100_000}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"body_html": ""}, "body_html"),
        ({"category": "c" * 101}, "category"),
        ({"name": ["list"]}, "name"),
    ],
)
def test_invalid_template_fields_answer_400(api, body, field):
    response = api.post(URL, {**GOOD, **body}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not EmailTemplate.objects.exists()


@pytest.mark.parametrize("raw", ["{", "[]", "null", "1"])
def test_garbage_json_answers_400(api, raw):
    assert api.post(URL, raw, content_type="application/json").status_code == 400


def test_update_revalidates_the_stored_sources(api):
    template = EmailTemplateFactory()

    broken = api.patch(f"{URL}/{template.pk}", {"body_text": "{% for x in %}"}, format="json")
    fine = api.patch(f"{URL}/{template.pk}/", {"name": "Renamed"}, format="json")

    assert broken.status_code == 400
    assert "body_text" in broken.json()
    assert fine.status_code == 200
    template.refresh_from_db()
    assert (template.name, template.body_text) == ("Renamed", "")


def test_list_shape_filters_and_pagination(api):
    EmailTemplateFactory(name="Spring offer", category="offer")
    EmailTemplateFactory(name="Newsletter", category="news")

    body = api.get(URL).json()
    offers = api.get(f"{URL}?category=offer").json()
    search = api.get(f"{URL}/?search=newsl").json()

    assert set(body) == {"templates", "total", "page", "page_size", "has_more"}
    assert (body["total"], body["page_size"]) == (2, 20)
    assert [t["name"] for t in offers["templates"]] == ["Spring offer"]
    assert [t["name"] for t in search["templates"]] == ["Newsletter"]


@pytest.mark.parametrize("query", ["page_size=0", "page_size=101", "page=-1", "sort_by=body_html", "search=%00"])
def test_invalid_list_parameters_answer_400(api, query):
    assert api.get(f"{URL}?{query}").status_code == 400


def test_delete_an_unused_template(api):
    template = EmailTemplateFactory()

    assert api.delete(f"{URL}/{template.pk}").status_code == 204
    assert not EmailTemplate.objects.exists()


def test_deleting_a_template_used_by_a_campaign_answers_409(api):
    campaign = CampaignFactory()

    response = api.delete(f"{URL}/{campaign.template_id}")

    assert response.status_code == 409
    assert response.json()["code"] == "template_in_use"
    assert EmailTemplate.objects.filter(pk=campaign.template_id).exists()


def test_a_soft_deleted_campaign_still_holds_its_template(api):
    campaign = CampaignFactory(deleted_at=timezone.now())

    assert api.delete(f"{URL}/{campaign.template_id}").status_code == 409


@pytest.mark.parametrize("pk", ["999999", "x", "99999999999999999999999"])
def test_unknown_template_answers_404(api, pk):
    assert api.get(f"{URL}/{pk}").status_code == 404
    assert api.delete(f"{URL}/{pk}").status_code == 404
    assert api.post(f"{URL}/{pk}/preview", {}, format="json").status_code == 404


def test_without_credentials_answers_401(anon_client):
    template = EmailTemplateFactory()

    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(f"{URL}/{template.pk}/preview", {}, format="json").status_code == 401


def test_without_permission_writes_answer_403(client_for, viewer):
    template = EmailTemplateFactory()
    client = client_for(viewer)

    assert client.post(URL, GOOD, format="json").status_code == 403
    assert client.patch(f"{URL}/{template.pk}", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"{URL}/{template.pk}").status_code == 403
    assert client.get(f"{URL}/{template.pk}").status_code == 403  # reads need view_emailtemplate


# --- preview ---------------------------------------------------------------------------------------


def test_preview_personalises_with_the_lead(api):
    template = EmailTemplateFactory()
    lead = LeadFactory(first_name="Ada")

    response = api.post(f"{URL}/{template.pk}/preview", {"lead_id": lead.pk}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"subject", "html", "text"}
    assert "Ada" in body["subject"] and "Ada" in body["html"] and "Ada" in body["text"]


def test_preview_without_a_lead_uses_sample_data(api):
    template = EmailTemplateFactory()

    response = api.post(f"{URL}/{template.pk}/preview/", {}, format="json")

    assert response.status_code == 200
    assert response.json()["subject"]


def test_preview_is_allowed_with_only_the_view_permission(client_for, viewer):
    template = EmailTemplateFactory()
    assert client_for(viewer).post(f"{URL}/{template.pk}/preview", {}, format="json").status_code == 403

    viewer.user_permissions.set(Permission.objects.filter(codename="view_emailtemplate"))
    viewer = type(viewer).objects.get(pk=viewer.pk)
    assert client_for(viewer).post(f"{URL}/{template.pk}/preview", {}, format="json").status_code == 200


@pytest.mark.parametrize("lead_id", [999999, "abc", 0, 2**64, [1], {"id": 1}])
def test_preview_with_an_unknown_or_malformed_lead_answers_400(api, lead_id):
    template = EmailTemplateFactory()

    response = api.post(f"{URL}/{template.pk}/preview", {"lead_id": lead_id}, format="json")

    assert response.status_code == 400
    assert "lead_id" in response.json()


def test_preview_of_a_template_that_fails_to_render_answers_400(api):
    template = EmailTemplateFactory(body_html="{% include 'no/such/template.html' %}")

    response = api.post(f"{URL}/{template.pk}/preview", {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "template_error"
