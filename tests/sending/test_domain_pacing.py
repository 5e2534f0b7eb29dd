"""SEND_DOMAIN_RATES: messages per recipient domain spaced evenly across workers (Redis), and
no head-of-line blocking: a recipient whose domain is at its cap is put off, the others go."""

import secrets
import time
from itertools import pairwise

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from campaigns import pacing, sending, services
from campaigns.models import Campaign, CampaignRecipient, Lead
from fliptech.rates import domain_intervals
from tests.factories import CampaignFactory, EmailTemplateFactory
from tests.sending.conftest import wait_until

R = CampaignRecipient.Status


@pytest.fixture(autouse=True)
def _fresh_local_caps():
    pacing.DomainPacer._local.clear()
    pacing.DomainPacer._entitled.clear()


def campaign_to(addresses, **fields):
    campaign = CampaignFactory(
        template=EmailTemplateFactory(), from_email="news@fliptech.example", started_at=timezone.now(), **fields
    )
    for address in addresses:
        lead = Lead.objects.create(email=address)
        CampaignRecipient.objects.create(campaign=campaign, lead=lead, email_address=address)
    return campaign


def test_the_setting_reads_like_the_contract():
    assert domain_intervals("gmail.com=3000/h, Yahoo.com=20/m,x.example=12/m") == {
        "gmail.com": 1.2,
        "yahoo.com": 3.0,
        "x.example": 5.0,  # 12/m is one message every 5 s
    }
    for bad in ("gmail.com", "gmail.com=0/h", "gmail.com=3/week", "=3/h"):
        with pytest.raises(ImproperlyConfigured, match="SEND_DOMAIN_RATES"):
            domain_intervals(bad)


@pytest.mark.django_db
def test_a_capped_domain_is_put_off_while_the_batch_goes_on(smtp_settings, smtp_server):
    smtp_settings.SEND_DOMAIN_RATES = {"slow.example": 2.0}
    smtp_settings.RATE_LIMIT_REDIS_URL = ""  # per process here; Redis below
    addresses = [f"s{i}@slow.example" for i in range(3)] + [f"f{i}@fast.example" for i in range(3)]
    campaign = campaign_to(addresses, status=Campaign.Status.RUNNING)
    started = time.monotonic()
    result = sending.send_batch(campaign.pk)
    assert time.monotonic() - started < 1.5  # nobody waited for slow.example's slots
    assert (result.sent, result.paced) == (4, 2)
    assert sorted(smtp_server.addresses()) == [
        "f0@fast.example",
        "f1@fast.example",
        "f2@fast.example",
        "s0@slow.example",
    ]
    held = CampaignRecipient.objects.filter(campaign=campaign, status=R.PENDING).order_by("not_before")
    assert [r.email_address for r in held] == ["s1@slow.example", "s2@slow.example"]
    gaps = [(r.not_before - timezone.now()).total_seconds() for r in held]
    assert 1.0 < gaps[0] <= 2.1 and 1.9 < gaps[1] - gaps[0] <= 2.1  # back one slot apart


@pytest.mark.django_db
def test_a_domain_not_in_the_campaign_changes_nothing(smtp_settings, smtp_server):
    smtp_settings.SEND_DOMAIN_RATES = {"absent.example": 60.0}
    campaign = campaign_to([f"r{i}@example.net" for i in range(5)], status=Campaign.Status.RUNNING)
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.paced) == (5, 0)


def test_senders_share_each_domains_slots_through_redis(require_redis, settings):
    settings.SEND_DOMAIN_RATES = {"shared.example": 0.3}
    import redis

    client = redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL)
    client.delete("fliptech:pace:domain:shared.example")
    run = secrets.token_hex(4)
    workers = [pacing.DomainPacer(), pacing.DomainPacer()]
    started = time.monotonic()
    # Six recipients, asked for by two senders in turn: the first goes, each other one is
    # given the next slot, one interval after the one before, whoever asked.
    slots = [started + workers[n % 2].wait(f"<{n}.{run}@t>", "x@shared.example") for n in range(6)]
    gaps = [b - a for a, b in pairwise(slots)]
    assert slots[0] - started < 0.05 and all(0.28 < gap < 0.32 for gap in gaps), gaps
    # A message put off comes back to its reserved slot and goes — but never within one
    # interval of the domain's last start, even when it comes back early or late together.
    assert workers[0].wait(f"<3.{run}@t>", "x@shared.example") > 0.2
    time.sleep(0.32)
    assert workers[0].wait(f"<3.{run}@t>", "x@shared.example") == 0
    assert workers[1].wait(f"<4.{run}@t>", "x@shared.example") > 0.2
    assert workers[0].wait(f"<6.{run}@t>", "x@shared.example") > 1.2  # a new message queues at the back
    assert workers[1].wait(f"<7.{run}@t>", "x@other.example") == 0  # not capped


def test_uncapped_domains_go_at_once_while_a_capped_one_is_spaced_by_the_worker(celery_procs, smtp_server, settings):
    # Two worker processes share the caps through Redis; without it they hold per process.
    concurrency = 2 if settings.RATE_LIMIT_REDIS_URL else 1
    capped = [f"c{i}@capped.example" for i in range(4)]
    free = [f"f{i}@free{i % 3}.example" for i in range(12)]
    campaign = campaign_to(capped + free, status=Campaign.Status.DRAFT)
    celery_procs.worker(concurrency=concurrency, extra_env={"SEND_DOMAIN_RATES": "capped.example=2/s"})
    assert celery_procs.wait_ready()
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert wait_until(lambda: smtp_server.count == 16, timeout=60), celery_procs.logs()
    with smtp_server.lock:
        when = {rcpt.lower(): at for (rcpt, _), at in zip(smtp_server.messages, smtp_server.times, strict=True)}
    capped_times = sorted(when[a] for a in capped)
    assert all(b - a >= 0.45 for a, b in pairwise(capped_times)), capped_times
    # The uncapped ones did not queue behind capped.example's slots.
    assert max(when[a] for a in free) - min(when.values()) < capped_times[-1] - capped_times[0]
