"""The guarantees, with real Celery worker (and beat) subprocesses on the test database,
the configured broker (Redis on CI, the filesystem broker on the embedded defaults) and a
real SMTP server on loopback. Every message the server accepted is parsed and checked."""

import re
import signal
import time
from collections import Counter
from datetime import timedelta
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as registry
from django.utils import timezone

from campaigns import sending, services, tasks
from campaigns.models import Campaign, CampaignRecipient, Lead, Suppression
from tests.factories import CampaignFactory, EmailTemplateFactory
from tests.sending.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
R = CampaignRecipient.Status

HTML = (
    "<html><body><p>Hello {{ lead.first_name }} #{{ lead.attributes.n }}</p>"
    '<p><a href="https://fliptech.example/offer">Offer</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)


def make_campaign(n, prefix="r", **fields):
    template = EmailTemplateFactory(subject="Offer for {{ lead.first_name }}", body_html=HTML)
    campaign = CampaignFactory(template=template, from_email="news@fliptech.example", **fields)
    leads = Lead.objects.bulk_create(
        Lead(email=f"{prefix}{i}@example.net", first_name=f"N{i}", attributes={"n": i}) for i in range(n)
    )
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(campaign=campaign, lead=lead, email_address=lead.email, first_name=lead.first_name)
        for lead in leads
    )
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    campaign.refresh_from_db()
    return campaign


def statuses(campaign):
    return Counter(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True))


def status_of(campaign):
    return Campaign.all_objects.values_list("status", flat=True).get(pk=campaign.pk)


def check_messages(smtp_server, campaign):
    """Parse every accepted message: addressed to its recipient, personalised for it, both
    parts, pixel, tracked link, headers, its own Message-ID as stored."""
    rows = {
        r["email_address"]: r
        for r in CampaignRecipient.objects.filter(campaign=campaign).values(
            "email_address", "first_name", "token", "message_id", "status"
        )
    }
    seen_ids = set()
    for (rcpt, _), msg in zip(smtp_server.messages, smtp_server.parsed(), strict=True):
        row = rows[rcpt]
        assert msg["To"].endswith(f"<{rcpt}>")
        assert msg["Subject"] == f"Offer for {row['first_name']}"
        number = rcpt.split("@")[0].lstrip("abcdefghijklmnopqrstuvwxyz")
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert f"Hello {row['first_name']} #{number}" in html and f"Hello {row['first_name']} #{number}" in text
        assert f"https://mail.example.com/t/o/{row['token']}.gif" in html
        assert re.search(rf'href="https://mail\.example\.com/t/c/{row["token"]}/\d+"', html)
        assert f'href="https://mail.example.com/u/{row["token"]}/"' in html
        assert msg["List-Unsubscribe"] == f"<https://mail.example.com/u/{row['token']}/>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Message-ID"] == row["message_id"]
        seen_ids.add(msg["Message-ID"])
    assert len(seen_ids) == smtp_server.count


def test_two_workers_send_a_campaign_of_1000_once_each(celery_procs, smtp_server, settings):
    campaign = make_campaign(1000)
    big_batches = {"SEND_BATCH_SIZE": "100"}
    celery_procs.worker(concurrency=1, extra_env=big_batches)
    # The second one runs its tasks in threads (one process, two senders): same guarantee.
    celery_procs.worker(concurrency=2, pool="threads", extra_env=big_batches)
    assert celery_procs.wait_ready(), celery_procs.logs()
    services.campaign_launch(campaign=campaign, send_immediately=True)

    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=120), celery_procs.logs()
    addresses = smtp_server.addresses()
    assert len(addresses) == 1000 and len(set(addresses)) == 1000
    assert statuses(campaign) == {R.SENT: 1000}
    check_messages(smtp_server, campaign)
    # Both workers took part. (Only asserted on Redis: the embedded filesystem broker is
    # polled once a second by each worker, so one of two idle workers may win every poll.)
    for proc in celery_procs.procs if settings.CELERY_BROKER_URL.startswith("redis") else []:
        assert re.search(
            r"Task campaigns\.tasks\.send_campaign\[[^\]]+\] succeeded", Path(proc.log_path).read_text()
        ), celery_procs.logs()


def test_worker_killed_mid_campaign_and_restarted_sends_no_one_twice(celery_procs, smtp_server, settings):
    settings.SEND_STALL_SECONDS = 2  # the janitor (run below) requeues a campaign idle for 2 s
    campaign = make_campaign(600)
    worker = celery_procs.worker(concurrency=2, extra_env={"SEND_BATCH_SIZE": "40"})
    services.campaign_launch(campaign=campaign, send_immediately=True)
    # Kill while the worker holds claims (a batch in flight), after ≥ 100 messages.
    holding = wait_until(
        lambda: (
            smtp_server.count >= 100 and CampaignRecipient.objects.filter(campaign=campaign, status=R.QUEUED).exists()
        ),
        timeout=60,
        interval=0.01,
    )
    celery_procs.kill(worker, signal.SIGKILL)
    assert holding, celery_procs.logs()
    assert smtp_server.count < 600, "the campaign finished before the kill; make it bigger"

    celery_procs.worker(concurrency=2, extra_env={"SEND_BATCH_SIZE": "40"})

    def janitor_until_done():
        tasks.release_expired_leases.apply()
        return status_of(campaign) == Campaign.Status.COMPLETED

    assert wait_until(janitor_until_done, timeout=120, interval=1), celery_procs.logs()
    addresses = smtp_server.addresses()
    assert len(addresses) == len(set(addresses)), "an address got the campaign twice"
    final = statuses(campaign)
    assert set(final) <= {R.SENT, R.FAILED} and sum(final.values()) == 600
    sent = set(
        CampaignRecipient.objects.filter(campaign=campaign, status=R.SENT).values_list("email_address", flat=True)
    )
    interrupted = set(
        CampaignRecipient.objects.filter(campaign=campaign, error_message=sending.INTERRUPTED).values_list(
            "email_address", flat=True
        )
    )
    assert len(interrupted) <= 2  # at most the one in flight per killed pool process
    assert sent <= set(addresses) <= sent | interrupted
    assert final[R.FAILED] == len(interrupted)
    check_messages(smtp_server, campaign)


def test_smtp_refusing_then_accepting_is_retried_and_delivered(celery_procs, smtp_server):
    campaign = make_campaign(5)
    smtp_server.fail_next(2)  # two 451s, then accept
    celery_procs.worker(concurrency=1)
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=60), celery_procs.logs()
    assert smtp_server.refused == 2
    assert sorted(smtp_server.addresses()) == sorted(f"r{i}@example.net" for i in range(5))
    assert statuses(campaign) == {R.SENT: 5}
    first = CampaignRecipient.objects.get(campaign=campaign, email_address="r0@example.net")
    assert first.attempts == 2
    check_messages(smtp_server, campaign)


def test_permanent_refusals_bounce_or_fail_the_recipient_with_the_reason(celery_procs, smtp_server):
    campaign = make_campaign(3)
    smtp_server.reject("r1@example.net")  # 550 5.1.1: a hard bounce
    smtp_server.reject("r2@example.net", smtp_server.POLICY)  # 554 5.7.1: refused by policy
    celery_procs.worker(concurrency=1)
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=60), celery_procs.logs()
    bounced = CampaignRecipient.objects.get(campaign=campaign, email_address="r1@example.net")
    assert bounced.status == R.BOUNCED and bounced.error_message.startswith("550 5.1.1")
    failed = CampaignRecipient.objects.get(campaign=campaign, email_address="r2@example.net")
    assert failed.status == R.FAILED and failed.error_message.startswith("554 5.7.1")
    assert list(Suppression.objects.values_list("email", "reason")) == [("r1@example.net", "hard_bounce")]
    assert smtp_server.addresses() == ["r0@example.net"]


def test_pause_stops_the_count_and_resume_sends_only_the_rest(celery_procs, smtp_server, api):
    campaign = make_campaign(100, send_rate_per_hour=72_000)  # 20 a second
    celery_procs.worker(concurrency=2)
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert smtp_server.wait_for(20, timeout=60) >= 20, celery_procs.logs()

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/pause")
    assert response.status_code == 200, response.content
    at_answer = smtp_server.count
    time.sleep(1.5)
    after_pause = smtp_server.count
    assert after_pause - at_answer <= 2  # only messages already in flight may land
    time.sleep(2)
    assert smtp_server.count == after_pause  # the count stopped growing
    assert after_pause < 100
    assert wait_until(lambda: statuses(campaign)[R.QUEUED] == 0, timeout=10)  # claims given back
    assert statuses(campaign)[R.PENDING] == 100 - after_pause

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/resume")
    assert response.status_code == 200, response.content
    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=60), celery_procs.logs()
    addresses = smtp_server.addresses()
    assert len(addresses) == 100 and len(set(addresses)) == 100
    assert statuses(campaign) == {R.SENT: 100}
    check_messages(smtp_server, campaign)


def test_rate_of_7200_an_hour_holds_across_two_workers(celery_procs, smtp_server):
    campaign = make_campaign(12, send_rate_per_hour=7200)  # 2 a second
    celery_procs.worker(concurrency=1, extra_env={"SEND_BATCH_SIZE": "3"})
    celery_procs.worker(concurrency=1, extra_env={"SEND_BATCH_SIZE": "3"})
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=60), celery_procs.logs()
    times = sorted(smtp_server.times)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 1.8 <= rate <= 2.2, f"measured {rate:.2f} messages/s"
    assert len(set(smtp_server.addresses())) == 12


def test_scheduled_campaign_is_launched_once_by_real_beat(celery_procs, smtp_server):
    # Tests before this one flushed the tables the data migration filled: register again.
    import_module("campaigns.migrations.0002_sending_beat_schedule").register(registry)
    scheduled_at = timezone.now() + timedelta(seconds=5)
    campaign = make_campaign(3)
    services.campaign_launch(campaign=campaign, send_immediately=False, scheduled_at=scheduled_at)
    assert status_of(campaign) == Campaign.Status.SCHEDULED

    celery_procs.worker(concurrency=1)
    celery_procs.beat()
    celery_procs.beat()  # a second beat by mistake: still launched once
    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=90), celery_procs.logs()
    campaign.refresh_from_db()
    assert scheduled_at <= campaign.started_at <= scheduled_at + timedelta(seconds=60)
    assert sorted(smtp_server.addresses()) == ["r0@example.net", "r1@example.net", "r2@example.net"]
    check_messages(smtp_server, campaign)
