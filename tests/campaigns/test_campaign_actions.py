"""Endpoints 10–13: launch, pause, resume, test — and the state machine behind them."""

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import services, tasks
from campaigns.exceptions import InvalidState
from campaigns.models import Campaign
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns"
STATUSES = ["draft", "scheduled", "running", "paused", "completed", "failed"]


def action_url(campaign, action):
    return f"{URL}/{campaign.pk}/{action}"


def ready(**kwargs):
    """A campaign that could be launched: a template that renders and a pending recipient."""
    campaign = CampaignFactory(**kwargs)
    CampaignRecipientFactory(campaign=campaign)
    return campaign


def future(**delta):
    return timezone.now() + dt.timedelta(**(delta or {"days": 1}))


@pytest.fixture
def send_campaign():
    with mock.patch.object(tasks.send_campaign, "delay") as delay:
        yield delay


@pytest.fixture
def send_test_email():
    with mock.patch.object(tasks.send_test_email, "delay") as delay:
        yield delay


# --- launch ---------------------------------------------------------------------------


def test_launch_draft_runs_it_and_queues_sending_on_commit(api, send_campaign, django_capture_on_commit_callbacks):
    campaign = ready()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(action_url(campaign, "launch"), {}, format="json")
        assert send_campaign.call_count == 0  # not before the commit
    assert response.status_code == 200
    assert len(callbacks) == 1
    callbacks[0]()
    send_campaign.assert_called_once_with(campaign.pk)
    body = response.json()
    assert body["status"] == "running" and body["started_at"]
    campaign.refresh_from_db()
    assert campaign.status == "running" and campaign.started_at is not None


def test_launch_by_public_id_with_empty_body(api, send_campaign, django_capture_on_commit_callbacks):
    campaign = ready()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{URL}/{campaign.campaign_id}/launch")
    assert response.status_code == 200
    send_campaign.assert_called_once_with(campaign.pk)


def test_launch_scheduled_campaign_now_runs_it(api, send_campaign, django_capture_on_commit_callbacks):
    campaign = ready(status="scheduled", scheduled_at=future())
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(action_url(campaign, "launch"), {"send_immediately": True}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    send_campaign.assert_called_once_with(campaign.pk)


def test_launch_stores_send_rate(api, send_campaign, django_capture_on_commit_callbacks):
    campaign = ready()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(action_url(campaign, "launch"), {"send_rate_per_hour": 120}, format="json")
    assert response.json()["send_rate_per_hour"] == 120


def test_launch_later_schedules_at_the_given_time_and_queues_nothing(
    api, send_campaign, django_capture_on_commit_callbacks
):
    campaign = ready()
    when = future(hours=3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(
            action_url(campaign, "launch"),
            {"send_immediately": False, "scheduled_at": when.isoformat()},
            format="json",
        )
    assert response.status_code == 200
    assert response.json()["status"] == "scheduled"
    campaign.refresh_from_db()
    assert campaign.status == "scheduled" and campaign.scheduled_at == when
    assert campaign.started_at is None
    assert callbacks == [] and send_campaign.call_count == 0


def test_launch_later_uses_the_campaigns_own_future_time(api, send_campaign):
    when = future(hours=5)
    campaign = ready(scheduled_at=when)
    response = api.post(action_url(campaign, "launch"), {"send_immediately": False}, format="json")
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == "scheduled" and campaign.scheduled_at == when


@pytest.mark.parametrize(
    "body, own_time",
    [
        ({"send_immediately": False}, None),
        ({"send_immediately": False}, "past"),
        ({"send_immediately": False, "scheduled_at": "2001-01-01T00:00:00Z"}, None),
        ({"send_immediately": False, "scheduled_at": "soon"}, None),
    ],
)
def test_launch_later_without_a_future_time_answers_400(api, send_campaign, body, own_time):
    campaign = ready()
    if own_time == "past":
        Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - dt.timedelta(hours=1))
    response = api.post(action_url(campaign, "launch"), body, format="json")
    assert response.status_code == 400
    assert "scheduled_at" in response.json()
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_launch_without_template_answers_409_not_ready(api, send_campaign):
    campaign = ready(template=None)
    response = api.post(action_url(campaign, "launch"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_ready" and response.json()["detail"]
    assert [c["code"] for c in response.json()["checks"]] == ["template_renders"]
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert send_campaign.call_count == 0


def test_launch_with_template_that_does_not_render_answers_409_not_ready(api, send_campaign):
    broken = EmailTemplateFactory(body_html="<p>{{ lead.first_name|no_such_filter }}</p>")
    campaign = ready(template=broken)
    response = api.post(action_url(campaign, "launch"), {}, format="json")
    assert response.status_code == 409
    assert set(response.json()) == {"detail", "code", "checks"} and response.json()["code"] == "not_ready"
    campaign.refresh_from_db()
    assert campaign.status == "draft"


@pytest.mark.parametrize("recipient_status", [None, "sent", "failed", "queued"])
def test_launch_without_pending_recipient_answers_409_not_ready(api, send_campaign, recipient_status):
    campaign = CampaignFactory()
    if recipient_status:
        CampaignRecipientFactory(campaign=campaign, status=recipient_status)
    response = api.post(action_url(campaign, "launch"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_ready"
    assert [c["code"] for c in response.json()["checks"]] == ["recipients"]
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert send_campaign.call_count == 0


@pytest.mark.parametrize(
    "body",
    [
        {"send_immediately": "perhaps"},
        {"test_mode": True},
        {"test_mode": True, "test_email": "nope"},
        {"send_rate_per_hour": 0},
        [],
        "launch",
    ],
)
def test_launch_with_invalid_body_answers_400(api, send_campaign, body):
    campaign = ready()
    response = api.post(action_url(campaign, "launch"), body, format="json")
    assert response.status_code == 400
    campaign.refresh_from_db()
    assert campaign.status == "draft"


@pytest.mark.parametrize("status", STATUSES)
def test_launch_in_test_mode_sends_one_test_and_leaves_status(
    api, send_campaign, send_test_email, django_capture_on_commit_callbacks, status
):
    campaign = ready(status=status)
    before = Campaign.objects.filter(pk=campaign.pk).values().get()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            action_url(campaign, "launch"), {"test_mode": True, "test_email": "me@example.com"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["status"] == status
    send_test_email.assert_called_once_with(campaign.pk, "me@example.com", None)
    assert send_campaign.call_count == 0
    assert Campaign.objects.filter(pk=campaign.pk).values().get() == before


# --- pause / resume -------------------------------------------------------------------


def test_pause_running_campaign(api):
    campaign = CampaignFactory(status="running", started_at=timezone.now())
    CampaignRecipientFactory.create_batch(2, campaign=campaign, status="pending")
    CampaignRecipientFactory(campaign=campaign, status="queued")
    CampaignRecipientFactory(campaign=campaign, status="sent", sent_at=timezone.now())
    response = api.post(action_url(campaign, "pause"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "message", "campaign_id", "status", "paused_at", "pending_recipients"}
    assert body["success"] is True and body["status"] == "paused" and body["paused_at"]
    assert body["campaign_id"] == campaign.campaign_id
    assert body["pending_recipients"] == 3
    campaign.refresh_from_db()
    assert campaign.status == "paused" and campaign.paused_at is not None


def test_pause_scheduled_campaign_unschedules_it(api):
    campaign = CampaignFactory(status="scheduled", scheduled_at=future())
    response = api.post(action_url(campaign, "pause"))
    assert response.status_code == 200
    assert response.json()["status"] == "draft" and response.json()["paused_at"] is None
    campaign.refresh_from_db()
    assert campaign.status == "draft" and campaign.scheduled_at is None


def test_resume_paused_campaign_queues_sending_on_commit(api, send_campaign, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(status="paused", paused_at=timezone.now())
    CampaignRecipientFactory(campaign=campaign)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(action_url(campaign, "resume"))
    assert send_campaign.call_count == 0
    assert len(callbacks) == 1
    callbacks[0]()
    send_campaign.assert_called_once_with(campaign.pk)
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "running" and body["paused_at"] is None and body["pending_recipients"] == 1
    campaign.refresh_from_db()
    assert campaign.status == "running" and campaign.paused_at is None


# --- test message ---------------------------------------------------------------------


def test_send_test_queues_one_message_on_commit(api, send_test_email, django_capture_on_commit_callbacks):
    campaign = ready()
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            action_url(campaign, "test"), {"test_email": "qa@example.com", "lead_id": lead.pk}, format="json"
        )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["message"]
    assert body["data"]["test_email"] == "qa@example.com"
    send_test_email.assert_called_once_with(campaign.pk, "qa@example.com", lead.pk)
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_send_test_without_lead_uses_sample_data(api, send_test_email, django_capture_on_commit_callbacks):
    campaign = ready()
    with django_capture_on_commit_callbacks(execute=True):
        api.post(action_url(campaign, "test/"), {"test_email": "qa@example.com"}, format="json")
    send_test_email.assert_called_once_with(campaign.pk, "qa@example.com", None)


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "test_email"),
        ({"test_email": "not an address"}, "test_email"),
        ({"test_email": "a@example.com\r\nBcc: b@example.com"}, "test_email"),
        ({"test_email": "a@example.com", "lead_id": 987654}, "lead_id"),
        ({"test_email": "a@example.com", "lead_id": "x"}, "lead_id"),
        ({"test_email": "a@example.com", "lead_id": "1" * 5000}, "lead_id"),
    ],
)
def test_send_test_with_invalid_body_answers_400(api, send_test_email, body, field):
    campaign = ready()
    response = api.post(action_url(campaign, "test"), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert send_test_email.call_count == 0


def test_send_test_without_template_answers_400(api, send_test_email):
    campaign = ready(template=None)
    response = api.post(action_url(campaign, "test"), {"test_email": "a@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "template_missing"


@pytest.mark.parametrize("action", ["launch", "pause", "resume", "test"])
def test_action_on_unknown_campaign_answers_404(api, action):
    response = api.post(f"{URL}/424242/{action}", {"test_email": "a@example.com"}, format="json")
    assert response.status_code == 404


# --- the state machine: every forbidden move is a 409 that changes nothing ------------

LEGAL = {
    "launch": {"draft", "scheduled"},
    "schedule": {"draft"},
    "pause": {"running", "scheduled"},
    "resume": {"paused"},
    "edit_name": {"draft", "scheduled", "paused"},
    "edit_content": {"draft", "scheduled"},
    "delete": {"draft", "scheduled", "paused", "completed", "failed"},
}


def call(api, campaign, move):
    if move == "launch":
        return api.post(action_url(campaign, "launch"), {}, format="json")
    if move == "schedule":
        return api.post(
            action_url(campaign, "launch"),
            {"send_immediately": False, "scheduled_at": future().isoformat()},
            format="json",
        )
    if move in ("pause", "resume"):
        return api.post(action_url(campaign, move))
    if move == "edit_name":
        return api.patch(f"{URL}/{campaign.pk}", {"name": "Changed"}, format="json")
    if move == "edit_content":
        return api.patch(f"{URL}/{campaign.pk}", {"subject": "Changed"}, format="json")
    if move == "delete":
        return api.delete(f"{URL}/{campaign.pk}")
    raise AssertionError(move)


FORBIDDEN = [(status, move) for move, legal in LEGAL.items() for status in STATUSES if status not in legal]
ALLOWED = [(status, move) for move, legal in LEGAL.items() for status in sorted(legal)]


@pytest.mark.parametrize("status, move", FORBIDDEN)
def test_forbidden_move_answers_409_and_changes_nothing(api, send_campaign, status, move):
    campaign = ready(status=status, scheduled_at=future() if status == "scheduled" else None)
    before = Campaign.all_objects.filter(pk=campaign.pk).values().get()
    response = call(api, campaign, move)
    assert response.status_code == 409, response.json()
    assert response.json() == {"detail": response.json()["detail"], "code": "invalid_state"}
    assert status in response.json()["detail"] or move == "delete"
    assert Campaign.all_objects.filter(pk=campaign.pk).values().get() == before
    assert send_campaign.call_count == 0


@pytest.mark.parametrize("status, move", ALLOWED)
def test_allowed_move_succeeds(api, send_campaign, status, move):
    campaign = ready(status=status, scheduled_at=future() if status == "scheduled" else None)
    response = call(api, campaign, move)
    assert response.status_code == 200, response.json()


def test_transition_refuses_a_stale_instance(send_campaign):
    """The guard reads the row, not the instance: a second launch from an instance that
    still says draft is refused."""
    campaign = ready()
    stale = Campaign.objects.get(pk=campaign.pk)
    services.campaign_launch(campaign=campaign)
    with pytest.raises(InvalidState):
        services.transition(campaign=stale, action="launch")
    stale.refresh_from_db()
    assert stale.status == "running"


@pytest.mark.django_db(transaction=True)
def test_concurrent_launches_launch_once(require_postgres):
    """Two connections launch the same campaign at the same moment: one wins, the other is
    refused, one send task is queued."""
    campaign = ready()
    barrier = threading.Barrier(2)
    outcomes = []

    def launch():
        try:
            mine = Campaign.objects.get(pk=campaign.pk)
            barrier.wait(timeout=10)
            services.campaign_launch(campaign=mine)
            outcomes.append("launched")
        except InvalidState:
            outcomes.append("refused")
        finally:
            connection.close()

    with mock.patch.object(tasks.send_campaign, "delay") as delay:
        threads = [threading.Thread(target=launch) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(outcomes) == ["launched", "refused"]
    delay.assert_called_once_with(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "running"
