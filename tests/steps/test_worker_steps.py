"""Follow-ups with real Celery workers and beat on the test database and broker, to the real
SMTP sink: on time, once each, threaded; a follow-up due later than the chain waits for is
picked up by beat's janitor."""

from collections import Counter
from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps as registry

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient, RecipientMessage
from tests.sending.conftest import wait_until
from tests.steps.helpers import campaign_with_steps, status_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_two_workers_send_every_step_once_on_time(celery_procs, smtp_server):
    campaign = campaign_with_steps(
        60, steps=[(timedelta(seconds=2), "no_reply", ""), (timedelta(seconds=2), "always", "")], status="draft"
    )
    celery_procs.worker(concurrency=2)
    celery_procs.worker(concurrency=1, pool="threads")
    assert celery_procs.wait_ready(), celery_procs.logs()
    services.campaign_launch(campaign=campaign, send_immediately=True)

    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=120), celery_procs.logs()
    assert Counter(smtp_server.addresses()) == {f"s{i}@example.net": 3 for i in range(60)}
    ids = [m["Message-ID"] for m in smtp_server.parsed()]
    assert len(set(ids)) == 180
    for m in RecipientMessage.objects.select_related("recipient"):
        previous = (
            m.recipient.sent_at
            if m.position == 1
            else RecipientMessage.objects.get(recipient=m.recipient, position=1).sent_at
        )
        # Due 2 s after the previous message, sent within the 60 s promise.
        assert previous + timedelta(seconds=2) <= m.sent_at <= previous + timedelta(seconds=60)
    assert set(CampaignRecipient.objects.values_list("sequence_status", "current_step")) == {("finished", 2)}


def test_a_follow_up_due_beyond_the_chain_horizon_is_sent_by_beat(celery_procs, smtp_server, settings, monkeypatch):
    import_module("campaigns.migrations.0002_sending_beat_schedule").register(registry)
    campaign = campaign_with_steps(3, steps=[(timedelta(seconds=3), "no_reply", "")], status="draft")
    celery_procs.env["SEND_STALL_SECONDS"] = "2"
    # A horizon of 0 s in the workers: no chain waits for the follow-ups, the janitor finds them.
    celery_procs.worker(concurrency=1, extra_env={"FOLLOWUP_HORIZON": "0"})
    celery_procs.beat()
    assert celery_procs.wait_ready(), celery_procs.logs()
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=90), celery_procs.logs()
    assert Counter(smtp_server.addresses()) == {f"s{i}@example.net": 2 for i in range(3)}
