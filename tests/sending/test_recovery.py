"""Faults the engine recovers from, one rule each (the end-to-end runs with real workers are
in tests/faults/): the backoff, one successor per batch, database errors, the in-flight mark,
the janitor, and `sent` counting what the server accepted."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignCounters, CampaignRecipient
from tests.factories import CampaignRecipientFactory
from tests.sending.test_sending import running_campaign

pytestmark = pytest.mark.django_db
R = CampaignRecipient.Status


class Successors:
    """Stands in for the broker: what `send_campaign` would queue next."""

    def __init__(self):
        self.calls = []

    def __call__(self, *, countdown, failures):
        self.calls.append((round(countdown), failures))


def rows(campaign):
    return list(CampaignRecipient.objects.filter(campaign=campaign).order_by("pk"))


def test_refused_recipient_is_not_claimed_before_its_backoff(smtp_settings, smtp_server):
    smtp_settings.SEND_RETRY_BACKOFF_SECONDS = 10
    campaign = running_campaign(3)
    smtp_server.fail_next(1)
    queued = Successors()
    with pytest.raises(sending.TransientFailure):
        sending.send_batch(campaign.pk, queue_next=queued)
    # The refused one waits 10 s × 2^0; the rest of the batch waits with its campaign.
    assert queued.calls == [(10, 1)]
    first, *rest = rows(campaign)
    now = timezone.now()
    assert first.attempts == 1 and 9 < (first.not_before - now).total_seconds() <= 10
    assert all(9 < (r.not_before - now).total_seconds() <= 10 for r in rest)
    assert sending.send_batch(campaign.pk).claimed == 0 and smtp_server.count == 0
    CampaignRecipient.objects.filter(campaign=campaign).update(not_before=now - timedelta(seconds=1))
    assert sending.send_batch(campaign.pk).sent == 3


def test_backoff_doubles_with_each_refusal_and_gives_up_after_max_attempts(smtp_settings, smtp_server):
    smtp_settings.SEND_RETRY_BACKOFF_SECONDS = 10
    smtp_settings.SEND_MAX_ATTEMPTS = 5
    campaign = running_campaign(1)
    smtp_server.fail_next(100)
    waits = []
    for failures in range(5):
        queued = Successors()
        with pytest.raises(sending.TransientFailure):
            sending.send_batch(campaign.pk, queue_next=queued, failures=failures)
        (r,) = rows(campaign)
        assert queued.calls == [(10 * 2**failures, failures + 1)]
        if r.status == R.PENDING:
            waits.append(round((r.not_before - timezone.now()).total_seconds()))
            CampaignRecipient.objects.filter(pk=r.pk).update(not_before=timezone.now())
    assert waits == [10, 20, 40, 80]  # 150 s between the first attempt and the fifth
    assert r.status == R.FAILED and r.error_message.startswith("gave up after 5 attempts: 451")


@pytest.mark.parametrize("n", [2, 3])
def test_a_full_batch_queues_exactly_one_successor_at_once(smtp_settings, smtp_server, n):
    smtp_settings.SEND_BATCH_SIZE = 2
    campaign = running_campaign(n)
    queued = Successors()
    assert sending.send_batch(campaign.pk, queue_next=queued).sent == 2
    assert queued.calls == [(0, 0)]


def test_the_last_batch_queues_nothing_and_completes(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    queued = Successors()
    assert sending.send_batch(campaign.pk, queue_next=queued).finished == Campaign.Status.COMPLETED
    assert queued.calls == []


def test_rows_in_backoff_get_a_successor_when_they_are_due(smtp_settings, smtp_server):
    campaign = running_campaign(1)
    CampaignRecipient.objects.filter(campaign=campaign).update(not_before=timezone.now() + timedelta(seconds=30))
    queued = Successors()
    assert sending.send_batch(campaign.pk, queue_next=queued).claimed == 0
    assert queued.calls == [(30, 0)]


def test_connection_refused_slows_the_campaign_and_charges_no_recipient(smtp_settings, smtp_server):
    smtp_settings.EMAIL_PORT = 1  # nothing listens there
    campaign = running_campaign(2)
    queued = Successors()
    with pytest.raises(sending.TransientFailure, match="connect"):
        sending.send_batch(campaign.pk, queue_next=queued, failures=2)
    assert queued.calls == [(40, 3)]
    assert {(r.status, r.attempts) for r in rows(campaign)} == {(R.PENDING, 0)}


@pytest.mark.django_db(transaction=True)
def test_in_flight_mark_is_set_right_before_the_data_goes_out(smtp_settings, smtp_server):
    campaign = running_campaign(3)
    seen = {}

    def mark(address):
        return CampaignRecipient.objects.filter(campaign=campaign, email_address=address).values_list(
            "status", "handed_at"
        )[0]

    smtp_server.on_rcpt = lambda address: seen.setdefault(("rcpt", address), mark(address))
    smtp_server.on_accept = lambda address: seen.setdefault(("data", address), mark(address))
    assert sending.send_batch(campaign.pk).sent == 3
    for r in rows(campaign):
        # When the server has the envelope only, nothing is marked in flight; once it has
        # the data, the mark was committed first.
        assert seen[("rcpt", r.email_address)] == (R.QUEUED, None)
        status, handed_at = seen[("data", r.email_address)]
        assert status == R.QUEUED and handed_at is not None
        assert (r.status, r.handed_at) == (R.SENT, None)


def test_sent_counts_what_the_server_accepted_not_what_started(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    a, b = rows(campaign)
    CampaignRecipient.objects.filter(pk=a.pk).update(status=R.QUEUED, sent_at=timezone.now())
    CampaignRecipient.objects.filter(pk=b.pk).update(status=R.SENT, sent_at=timezone.now())
    counted = CampaignCounters.objects.filter(campaign=campaign).aggregate(n=Sum("emails_sent"))["n"]
    assert counted == 1


def test_janitor_finds_lost_chains_but_not_busy_or_backing_off_campaigns():
    now = timezone.now()
    lost = running_campaign(1, prefix="lost")
    CampaignRecipientFactory(campaign=lost, status=R.QUEUED, lease_expires_at=now - timedelta(seconds=1))
    leased = running_campaign(1, prefix="leased")
    CampaignRecipientFactory(campaign=leased, status=R.QUEUED, lease_expires_at=now + timedelta(seconds=30))
    waiting = running_campaign(1, prefix="waiting")
    CampaignRecipient.objects.filter(campaign=waiting).update(not_before=now + timedelta(seconds=40))
    retried = running_campaign(2, prefix="retried")  # a retry was scheduled a moment ago
    CampaignRecipient.objects.filter(campaign=retried).update(not_before=now - timedelta(seconds=1))
    assert sending.stalled_campaign_ids(stale_seconds=30) == [lost.pk]


@pytest.fixture
def terminate_sender_on(require_postgres):
    """Terminates every other connection to the test database (the sender's among them)
    right after the server accepted the message to `address`."""

    def terminate(address):
        def hook(rcpt):
            if rcpt == address:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )

        return hook

    return terminate


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("which", [0, 2])  # its "sent" chained with the next start; the last
def test_message_accepted_before_the_database_dropped_is_recorded_sent(
    smtp_settings, smtp_server, terminate_sender_on, which
):
    campaign = running_campaign(3)
    smtp_server.on_accept = terminate_sender_on(f"lead{which}@example.net")
    queued = Successors()
    sending.send_batch(campaign.pk, queue_next=queued)
    accepted = rows(campaign)[which]
    assert (accepted.status, accepted.error_message) == (R.SENT, "")
    assert len(queued.calls) <= 1
    sending.send_batch(campaign.pk)  # the successor
    assert [r.status for r in rows(campaign)] == [R.SENT] * 3
    addresses = smtp_server.addresses()
    assert sorted(addresses) == sorted(set(addresses)) and len(addresses) == 3
