"""The render budget (TEMPLATE_RENDER_TIMEOUT, TEMPLATE_MAX_BYTES) where rendering happens —
save, preview, test send, launch — and render errors told without the render context."""

import time
from unittest import mock

import pytest

from campaigns import tasks
from campaigns.models import Campaign
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db

# The 150-byte template: a triple loop writing 400 characters each time.
BOMB = (
    '{% for a in "x"|ljust:"300"|make_list %}{% for b in "x"|ljust:"300"|make_list %}'
    '{% for c in "x"|ljust:"300"|make_list %}{{ c|ljust:"400" }}{% endfor %}{% endfor %}{% endfor %}'
)
# Slow but small: a million one-character nodes.
SLOW = '{% for a in "x"|ljust:"1000"|make_list %}{% for b in "x"|ljust:"1000"|make_list %}{% endfor %}{% endfor %}'
# Large, fast: 1000 × 1000 characters (the 2 MB answer), over a 500 kB budget.
LARGE = '{% for a in "x"|ljust:"1000"|make_list %}{{ a|ljust:"1000" }}{% endfor %}'
# Loops only for real leads (the sample lead has no attributes).
REAL_ONLY = (
    "<p>Hi</p>{% if lead.attributes.big %}"
    '{% for a in "x"|ljust:"1000"|make_list %}{% for b in "x"|ljust:"1000"|make_list %}{% endfor %}{% endfor %}'
    "{% endif %}"
)
# A filter argument naming a variable that does not exist: Django's message quotes the context.
LEAKY = "<p>Hello</p>\n<p>{{ lead.first_name|add:lead.missing_key }}</p>"


@pytest.fixture(autouse=True)
def _small_budget(settings):
    settings.TEMPLATE_RENDER_TIMEOUT = 0.3
    settings.TEMPLATE_MAX_BYTES = 500_000


def template(body_html, **fields):
    template = EmailTemplateFactory()
    # Stored directly: the API refuses to save some of these (test_saving_*).
    type(template).objects.filter(pk=template.pk).update(body_html=body_html, **fields)
    template.refresh_from_db()
    return template


def preview(api, template, **body):
    return api.post(f"/api/v1/templates/{template.pk}/preview", body, format="json")


@pytest.mark.parametrize("body_html", [BOMB, SLOW], ids=["bomb", "slow"])
def test_preview_over_the_time_budget_answers_400_within_the_budget(api, body_html):
    started = time.monotonic()
    response = preview(api, template(body_html))
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    assert response.json()["code"] == "template_too_costly"
    assert "line 1" in response.json()["detail"]
    assert "TEMPLATE_RENDER_TIMEOUT" in response.json()["detail"] or "TEMPLATE_MAX_BYTES" in response.json()["detail"]


def test_preview_over_the_size_budget_answers_400_naming_the_setting(api):
    response = preview(api, template(LARGE))
    assert response.status_code == 400
    assert response.json()["code"] == "template_too_costly"
    assert "TEMPLATE_MAX_BYTES" in response.json()["detail"]
    assert len(response.content) < 1000


@pytest.mark.parametrize(
    "body_html", ['{{ "x"|ljust:"999999999" }}', "{% lorem 999999999 w %}", '{{ 1|stringformat:"0999999999d" }}']
)
def test_a_filter_asked_for_more_than_the_budget_is_refused_before_it_allocates(api, body_html):
    started = time.monotonic()
    response = preview(api, template(body_html))
    assert time.monotonic() - started < 1
    assert response.status_code == 400 and response.json()["code"] == "template_too_costly"


def test_preview_within_the_budget_still_renders(api):
    response = preview(api, template('{% for a in "abc"|make_list %}<p>{{ a }}{{ lead.first_name }}</p>{% endfor %}'))
    assert response.status_code == 200
    assert response.json()["html"].count("<p>") == 3


def test_preview_error_names_the_line_and_never_the_leads_data(api):
    lead = LeadFactory(email="private.person@example.com", first_name="Privatename", phone="+1 555 0199")
    response = preview(api, template(LEAKY), lead_id=lead.pk)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "line 2" in detail and "missing_key" in detail
    for secret in ("private.person", "Privatename", "555 0199", "{'"):
        assert secret not in detail


def test_debug_tag_is_refused_on_save(api):
    body = {"name": "dbg", "subject": "s", "body_html": "{% debug %}"}
    response = api.post("/api/v1/templates", body, format="json")
    assert response.status_code == 400
    assert "debug" in str(response.json())


def test_saving_a_template_over_the_budget_answers_400(api):
    response = api.post("/api/v1/templates", {"name": "bomb", "subject": "s", "body_html": BOMB}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "template_too_costly"
    assert not EmailTemplateFactory._meta.model.objects.filter(name="bomb").exists()


def test_test_send_over_the_budget_answers_400_and_queues_nothing(api):
    campaign = CampaignFactory(template=template(BOMB))
    with mock.patch.object(tasks.send_test_email, "delay") as delay:
        response = api.post(f"/api/v1/campaigns/{campaign.pk}/test", {"test_email": "qa@example.com"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "template_too_costly"
    assert delay.call_count == 0


def test_launch_checks_real_recipients_too(api):
    campaign = CampaignFactory(template=template(REAL_ONLY))
    CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(attributes={"big": True}))
    with mock.patch.object(tasks.send_campaign, "delay") as delay:
        response = api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "template_too_costly"
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"
    assert delay.call_count == 0


def test_launch_error_never_shows_a_recipients_data_or_token(api):
    campaign = CampaignFactory(template=template(LEAKY))
    recipient = CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(email="hidden@example.com"))
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/launch", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_ready"  # the checklist's template_renders
    assert "hidden@" not in response.content.decode() and recipient.token not in response.content.decode()


# --- test-send limit -------------------------------------------------------------------------


def test_test_sends_beyond_the_hourly_limit_answer_429(api, settings, django_capture_on_commit_callbacks):
    settings.TEST_SEND_LIMIT = 2
    campaign = CampaignFactory()
    url = f"/api/v1/campaigns/{campaign.pk}/test"
    with mock.patch.object(tasks.send_test_email, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        assert api.post(url, {"test_email": "a@example.com"}, format="json").status_code == 200
        assert api.post(url, {"test_email": "b@example.com"}, format="json").status_code == 200
        response = api.post(url, {"test_email": "c@example.com"}, format="json")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and "TEST" not in response.json()["detail"]
    assert 0 < int(response["Retry-After"]) <= 3600
    assert delay.call_count == 2


def test_the_test_send_limit_is_per_user(api, client_for, settings, user):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    settings.TEST_SEND_LIMIT = 1
    other = UserFactory(username="other-marketer")
    other.user_permissions.set(Permission.objects.filter(codename="change_campaign"))
    campaign = CampaignFactory()
    url = f"/api/v1/campaigns/{campaign.pk}/test"
    with mock.patch.object(tasks.send_test_email, "delay"):
        assert api.post(url, {"test_email": "a@example.com"}, format="json").status_code == 200
        assert api.post(url, {"test_email": "a@example.com"}, format="json").status_code == 429
        assert client_for(other).post(url, {"test_email": "a@example.com"}, format="json").status_code == 200
