"""SEND_DOMAIN_RATES: messages per recipient domain spaced evenly across workers (Redis), and
no head-of-line blocking: recipients of a domain at its cap are not claimed (or given back
before rendering), and the others go at once."""

import secrets
import time
from itertools import pairwise

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from campaigns import sending, services
from campaigns.domain_pacing import DomainPacer
from campaigns.models import Campaign, CampaignRecipient, Lead
from campaigns.sending import store
from fliptech.rates import domain_intervals
from tests.factories import CampaignFactory, EmailTemplateFactory
from tests.sending.conftest import wait_until

R = CampaignRecipient.Status


@pytest.fixture(autouse=True)
def _fresh_local_caps():
    DomainPacer._local.clear()
    DomainPacer.cost = 0.01


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


def sent_count(campaign, domain):
    return CampaignRecipient.objects.filter(
        campaign=campaign, status=R.SENT, email_address__endswith="@" + domain
    ).count()


def arrivals(smtp_server) -> dict:
    with smtp_server.lock:
        return {rcpt.lower(): at for (rcpt, _), at in zip(smtp_server.messages, smtp_server.times, strict=True)}


@pytest.mark.django_db
def test_a_capped_domain_goes_at_its_slots_while_the_others_go_at_once(smtp_settings, smtp_server):
    smtp_settings.SEND_DOMAIN_RATES = {"slow.example": 1.0}
    smtp_settings.RATE_LIMIT_REDIS_URL = ""  # per process here; Redis below
    addresses = [f"s{i}@slow.example" for i in range(5)] + [f"f{i}@fast.example" for i in range(3)]
    campaign = campaign_to(addresses, status=Campaign.Status.RUNNING)
    queued = []
    result = sending.send_batch(campaign.pk, queue_next=lambda countdown, failures: queued.append(countdown))
    # The claim's horizon (200 messages at 10 ms: 2 s) holds three of slow.example's slots:
    # s3 and s4 were not claimed at all. Nobody else was due, so the batch sent the three
    # it claimed as their slots came, after the uncapped ones.
    assert (result.claimed, result.sent, result.paced) == (6, 6, 0)
    when = arrivals(smtp_server)
    slow = [when[f"s{i}@slow.example"] for i in range(3)]
    assert max(when[f"f{i}@fast.example"] for i in range(3)) < slow[1]
    assert all(0.95 <= b - a < 1.3 for a, b in pairwise(slow)), slow
    unclaimed = CampaignRecipient.objects.filter(campaign=campaign, status=R.PENDING).order_by("id")
    assert [(r.email_address, r.message_id, r.not_before) for r in unclaimed] == [
        ("s3@slow.example", "", None),
        ("s4@slow.example", "", None),
    ]
    assert len(queued) == 1 and queued[0] < 0.5  # the next batch when slow.example has a slot again


@pytest.mark.django_db
def test_after_a_full_claim_the_capped_ones_beyond_the_batch_go_back_unrendered(smtp_settings, smtp_server):
    smtp_settings.SEND_DOMAIN_RATES = {"slow.example": 1.0}
    smtp_settings.RATE_LIMIT_REDIS_URL = ""
    smtp_settings.SEND_BATCH_SIZE = 6
    DomainPacer.cost = 0.5  # a message takes 0.5 s here: the claim's horizon is 3 s
    addresses = [f"s{i}@slow.example" for i in range(3)] + [f"f{i}@fast.example" for i in range(3)]
    campaign = campaign_to(addresses, status=Campaign.Status.RUNNING)
    result = sending.send_batch(campaign.pk)
    # A full claim: others may be waiting, so the batch keeps only the slots its 3 uncapped
    # messages cover (1.5 s): s0 and s1. s2 went back before it was rendered, due at its slot.
    assert (result.claimed, result.sent, result.paced) == (6, 5, 1)
    sent = ["f0@fast.example", "f1@fast.example", "f2@fast.example", "s0@slow.example", "s1@slow.example"]
    assert sorted(arrivals(smtp_server)) == sent
    s0 = CampaignRecipient.objects.get(campaign=campaign, email_address="s0@slow.example")
    s2 = CampaignRecipient.objects.get(campaign=campaign, status=R.PENDING)
    assert s2.email_address == "s2@slow.example"
    assert 1.5 < (s2.not_before - s0.sent_at).total_seconds() < 2.1  # s0's slot + 2 intervals


@pytest.mark.django_db
def test_the_claim_takes_a_capped_domain_within_its_quota(smtp_settings):
    addresses = [f"c{i}@capped.example" for i in range(5)] + [f"u{i}@open.example" for i in range(5)]
    campaign = campaign_to(addresses, status=Campaign.Status.RUNNING)
    held = set()
    rows = store.claim_batch(
        campaign=campaign, size=50, quotas={"capped.example": 2, "absent.example": 1}, held_back=held
    )
    assert sorted(r.email_address for r in rows) == ["c0@capped.example", "c1@capped.example"] + [
        f"u{i}@open.example" for i in range(5)
    ]
    assert held == {"capped.example"}  # absent.example has nobody here: not held back
    held = set()
    assert store.claim_batch(campaign=campaign, size=50, quotas={"capped.example": 0}, held_back=held) == []
    assert held == {"capped.example"}  # at its cap: none claimed, the rest stay pending, unclaimed
    assert CampaignRecipient.objects.filter(campaign=campaign, status=R.PENDING, message_id="").count() == 3


@pytest.mark.django_db
def test_a_domain_not_in_the_campaign_changes_nothing(smtp_settings, smtp_server):
    smtp_settings.SEND_DOMAIN_RATES = {"absent.example": 60.0}
    campaign = campaign_to([f"r{i}@example.net" for i in range(5)], status=Campaign.Status.RUNNING)
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.paced) == (5, 0)


def test_senders_share_each_domains_slots_through_redis(require_redis, settings):
    domain = f"shared-{secrets.token_hex(4)}.example"  # fresh keys in Redis
    settings.SEND_DOMAIN_RATES = {domain: 0.3}
    workers = [DomainPacer(), DomainPacer()]
    assert workers[0].quotas(1.0) == {domain: (4, 0.0)}  # slots at 0, 0.3, 0.6, 0.9 s
    # Two senders reserve in turn: each gets the next slots, one interval after the other's.
    first, after = workers[0].reserve({domain: 2}, 1.0)[domain]
    second, _ = workers[1].reserve({domain: 5}, 1.0)[domain]
    assert len(first) == 2 and len(second) == 2  # the horizon holds four slots in all
    slots = first + second
    gaps = [b - a for a, b in pairwise(slots)]
    assert slots[0] < 0.05 and all(0.28 < gap < 0.32 for gap in gaps), slots
    assert 0.55 < after < 0.65
    assert workers[1].quotas(1.0)[domain][0] == 0  # booked up to the horizon: the claim takes none
    # The start: one interval after the domain's last start, whoever started it.
    assert workers[0].start(f"a@{domain}") == 0
    assert 0.25 < workers[1].start(f"b@{domain}") <= 0.3
    time.sleep(0.3)
    assert workers[1].start(f"b@{domain}") == 0
    assert workers[0].start("x@not-capped.example") == 0


def test_uncapped_domains_go_at_once_while_capped_ones_go_at_their_rate(celery_procs, smtp_server, settings):
    # Two worker processes share the caps through Redis; without it they hold per process.
    concurrency = 2 if settings.RATE_LIMIT_REDIS_URL else 1
    run = secrets.token_hex(3)  # fresh domains: no slots left in Redis by an earlier run
    capped_domains = [f"c{n}-{run}.example" for n in range(2)]
    addresses = []
    for i in range(6):  # interleaved, as a campaign's recipients come
        addresses += [f"c{i}@{d}" for d in capped_domains] + [f"f{i}.{n}@free{n}.example" for n in range(4)]
    campaign = campaign_to(addresses, status=Campaign.Status.DRAFT)
    rates = ",".join(f"{d}=2/s" for d in capped_domains)
    celery_procs.worker(concurrency=concurrency, extra_env={"SEND_DOMAIN_RATES": rates})
    assert celery_procs.wait_ready()
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert wait_until(lambda: smtp_server.count >= len(addresses), timeout=60), celery_procs.logs()
    time.sleep(0.5)
    assert sorted(smtp_server.addresses()) == sorted(addresses)  # each one once
    assert wait_until(lambda: Campaign.all_objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED)
    when = arrivals(smtp_server)
    start = min(when.values())
    spans = []
    for domain in capped_domains:
        times = sorted(at for a, at in when.items() if a.endswith("@" + domain))
        gaps = [b - a for a, b in pairwise(times)]
        # 2/s: one start every 0.5 s, never a burst. Arrivals also carry the hand-over's jitter
        # (envelope, start, data: tens of ms on a loaded machine), never the rate's.
        assert all(gap >= 0.4 for gap in gaps) and (times[-1] - times[0]) / len(gaps) >= 0.49, (domain, gaps)
        spans.append(times[-1] - start)
        assert times[-1] - start < 5 * 0.5 * 1.6, gaps  # and not much slower than the cap
    # The uncapped ones did not wait for the capped domains' slots.
    free_done = max(at for a, at in when.items() if "@free" in a) - start
    assert free_done < min(spans) / 2, (free_done, spans)
