"""The engine in this process against a real SMTP server on loopback: every message parsed."""

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from campaigns import sending, tasks
from campaigns.models import Campaign, CampaignLink, CampaignRecipient
from tests.factories import (
    CampaignFactory,
    CampaignRecipientFactory,
    EmailTemplateFactory,
    LeadFactory,
    SuppressionFactory,
)

pytestmark = pytest.mark.django_db
R = CampaignRecipient.Status

HTML = (
    "<html><head><style>.hi{color:#123456}</style></head><body>"
    '<p class="hi">Hello {{ lead.first_name }} from {{ lead.city }} ({{ lead.attributes.listing }})</p>'
    '<p><a href="https://fliptech.example/offer?a=1&amp;b=2">Offer</a> '
    '<a href="http://fliptech.example/plain">Plain</a> '
    '<a href="https://fliptech.example/offer?a=1&amp;b=2">Offer again</a> '
    '<a href="mailto:sales@fliptech.example">Mail us</a> <a href="tel:+15125550100">Call</a> '
    '<a href="#top">Top</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)


def running_campaign(n=3, prefix="lead", **fields):
    template = EmailTemplateFactory(subject="Hi {{ lead.first_name }}, {{ campaign.name }}", body_html=HTML)
    campaign = CampaignFactory(
        template=template,
        status=Campaign.Status.RUNNING,
        started_at=timezone.now(),
        name="Spring",
        from_email="news@fliptech.example",
        from_name="FlipTech",
        reply_to="sales@fliptech.example",
        **fields,
    )
    for i in range(n):
        lead = LeadFactory(
            email=f"{prefix}{i}@example.net", first_name=f"Name{i}", city="Austin", attributes={"listing": f"{i}BR"}
        )
        CampaignRecipientFactory(campaign=campaign, lead=lead)
    return campaign


def click_target(url):
    """The stored URL a click-tracking URL redirects to (asserting the token's campaign)."""
    match = re.fullmatch(r"https://mail\.example\.com/t/c/([A-Za-z0-9_-]+)/(\d+)", url)
    assert match, url
    recipient = CampaignRecipient.objects.get(token=match[1])
    return CampaignLink.objects.get(pk=match[2], campaign=recipient.campaign).url


def test_every_message_is_personalised_instrumented_and_recorded(smtp_settings, smtp_server):
    campaign = running_campaign(3)
    result = sending.send_batch(campaign.pk)
    assert (result.claimed, result.sent, result.failed) == (3, 3, 0)

    messages = smtp_server.parsed()
    assert sorted(smtp_server.addresses()) == ["lead0@example.net", "lead1@example.net", "lead2@example.net"]
    recipients = {r.email_address: r for r in CampaignRecipient.objects.filter(campaign=campaign)}
    message_ids = set()
    for msg in messages:
        address = re.search(r"<(.+)>", msg["To"])[1]
        r = recipients[address]
        i = address[4]
        assert msg["To"] == f"{r.first_name} {r.last_name} <{address}>"
        assert msg["From"] == "FlipTech <news@fliptech.example>"
        assert msg["Reply-To"] == "sales@fliptech.example"
        assert msg["Subject"] == f"Hi Name{i}, Spring"
        assert msg["Message-ID"] == r.message_id and r.message_id.endswith("@fliptech.example>")
        message_ids.add(msg["Message-ID"])
        assert msg["List-Unsubscribe"] == f"<https://mail.example.com/u/{r.token}/>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_content_type() == "multipart/alternative"

        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert f"Hello Name{i} from Austin ({i}BR)" in html and f"Hello Name{i} from Austin ({i}BR)" in text
        assert 'style="color: #123456;"' in html  # CSS inlined
        assert f'<img src="https://mail.example.com/t/o/{r.token}.gif"' in html
        hrefs = re.findall(r'href="([^"]+)"', html)
        tracked = [h for h in hrefs if "/t/c/" in h]
        assert [click_target(h) for h in tracked] == [
            "https://fliptech.example/offer?a=1&b=2",
            "http://fliptech.example/plain",
            "https://fliptech.example/offer?a=1&b=2",
        ]
        assert "mailto:sales@fliptech.example" in hrefs and "tel:+15125550100" in hrefs and "#top" in hrefs
        assert f"https://mail.example.com/u/{r.token}/" in hrefs  # unsubscribe untouched
        text_links = re.findall(r"https://mail\.example\.com/t/c/[^\s)]+", text)
        assert [click_target(u) for u in text_links] == [
            "https://fliptech.example/offer?a=1&b=2",
            "http://fliptech.example/plain",
            "https://fliptech.example/offer?a=1&b=2",
        ]
        assert f"Unsubscribe (https://mail.example.com/u/{r.token}/)" in text
    assert len(message_ids) == 3
    assert CampaignLink.objects.filter(campaign=campaign).count() == 2  # one row per distinct URL

    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == {R.SENT}
    assert CampaignRecipient.objects.filter(campaign=campaign, sent_at__isnull=True).count() == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED and campaign.completed_at is not None


def test_links_built_by_the_template_are_tracked_per_recipient(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    campaign.template.body_html = (
        '<p><a href="https://fliptech.example/listing/{{ lead.attributes.listing }}">Yours</a> '
        '<a href="https://fliptech.example/static">Static</a> <a href="{{ unsubscribe_url }}">U</a></p>'
    )
    campaign.template.body_text = "Yours: https://fliptech.example/listing/{{ lead.attributes.listing }}."
    campaign.template.save()
    sending.send_batch(campaign.pk)
    for msg in smtp_server.parsed():
        listing = "0BR" if "lead0" in msg["To"] else "1BR"
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        hrefs = re.findall(r'href="([^"]+)"', html)
        assert [click_target(h) for h in hrefs[:2]] == [
            f"https://fliptech.example/listing/{listing}",
            "https://fliptech.example/static",
        ]
        assert "/u/" in hrefs[2]
        (url,) = re.findall(r"https://\S+(?=\.)", text)
        assert click_target(url) == f"https://fliptech.example/listing/{listing}"
    assert CampaignLink.objects.filter(campaign=campaign).count() == 3


def test_batch_queries_are_bounded(smtp_settings, smtp_server, django_assert_max_num_queries):
    campaign = running_campaign(10)
    # Load campaign, claim (due rows, expired leases when the first is short, update, read
    # back; + savepoint/release inside a test transaction), links (insert, select), per
    # message start + sent (2 × 10), completion (exists, counts, campaign, update + refresh);
    # the campaign's follow-up steps (none: no follow-up claim) and the sequences' advance
    # (the batch's rows finished, their leads contacted: select + 2 updates), and completion
    # asking whether the campaign has steps (sequences.unfinished).
    # deliverability: the batch's suppressed addresses, the auto-pause watch's counters (2);
    # and the claimed addresses' erased hashes looked up once (store.drop_erased).
    with django_assert_max_num_queries(22 + 2 * 10):
        assert sending.send_batch(campaign.pk).sent == 10


def test_tracking_off_means_no_pixel_and_original_links(smtp_settings, smtp_server):
    campaign = running_campaign(1, track_opens=False, track_clicks=False)
    sending.send_batch(campaign.pk)
    html = smtp_server.parsed()[0].get_body(("html",)).get_content()
    assert "/t/o/" not in html and "/t/c/" not in html
    assert 'href="https://fliptech.example/offer?a=1&amp;b=2"' in html
    assert not CampaignLink.objects.filter(campaign=campaign).exists()


def test_list_unsubscribe_adds_mailto_when_configured(smtp_settings, smtp_server):
    smtp_settings.LIST_UNSUBSCRIBE_MAILTO = "unsubscribe@fliptech.example"
    campaign = running_campaign(1)
    sending.send_batch(campaign.pk)
    token = CampaignRecipient.objects.get(campaign=campaign).token
    assert smtp_server.parsed()[0]["List-Unsubscribe"] == (
        f"<https://mail.example.com/u/{token}/>, <mailto:unsubscribe@fliptech.example?subject=unsubscribe%20{token}>"
    )


def test_defaults_from_settings_when_campaign_has_no_sender(smtp_settings, smtp_server):
    smtp_settings.DEFAULT_FROM_EMAIL = "Offers <offers@fliptech.example>"
    smtp_settings.DEFAULT_REPLY_TO = ""
    campaign = running_campaign(1)
    Campaign.objects.filter(pk=campaign.pk).update(from_email="", from_name="", reply_to="")
    sending.send_batch(campaign.pk)
    msg = smtp_server.parsed()[0]
    assert msg["From"] == "Offers <offers@fliptech.example>" and msg["Reply-To"] is None


def test_non_ascii_subject_and_names_are_encoded(smtp_settings, smtp_server):
    campaign = running_campaign(0)
    lead = LeadFactory(email="zoe@example.net", first_name="Zoë", last_name="Müller")
    CampaignRecipientFactory(campaign=campaign, lead=lead)
    sending.send_batch(campaign.pk)
    msg = smtp_server.parsed()[0]
    assert msg["Subject"] == "Hi Zoë, Spring"
    assert msg["To"] == "Zoë Müller <zoe@example.net>"
    assert "Hello Zoë" in msg.get_body(("plain",)).get_content()


def test_suppressed_address_is_failed_not_sent(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    SuppressionFactory(email="lead1@example.net", reason="unsubscribed")
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.failed) == (1, 1)
    assert smtp_server.addresses() == ["lead0@example.net"]
    failed = CampaignRecipient.objects.get(campaign=campaign, email_address="lead1@example.net")
    assert (failed.status, failed.error_message, failed.sent_at) == (R.FAILED, "suppressed: unsubscribed", None)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_permanent_refusal_marks_failed_with_the_servers_reason(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    smtp_server.reject("lead0@example.net", smtp_server.POLICY)
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.failed) == (1, 1)
    failed = CampaignRecipient.objects.get(campaign=campaign, email_address="lead0@example.net")
    assert failed.status == R.FAILED and failed.error_message.startswith("554 5.7.1 Message refused")
    assert failed.sent_at is None
    assert smtp_server.addresses() == ["lead1@example.net"]


def test_every_send_failing_permanently_fails_the_campaign(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    smtp_server.reject_all, smtp_server.reject_reply = True, smtp_server.POLICY
    sending.send_batch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    assert "554 5.7.1 Message refused" in campaign.failure_reason


def test_transient_refusal_puts_the_rest_back_and_raises(smtp_settings, smtp_server):
    smtp_settings.SEND_RETRY_BACKOFF_SECONDS = 0  # retried at once here (the wait: test_recovery.py)
    campaign = running_campaign(3)
    smtp_server.fail_next(1)
    with pytest.raises(sending.TransientFailure, match="451"):
        sending.send_batch(campaign.pk)
    rows = CampaignRecipient.objects.filter(campaign=campaign).order_by("pk")
    assert [r.status for r in rows] == [R.PENDING] * 3
    assert rows[0].attempts == 1 and rows[0].error_message.startswith("451")
    assert all(r.sent_at is None and r.lease_expires_at is None for r in rows)
    message_ids = [r.message_id for r in rows]
    assert sending.send_batch(campaign.pk).sent == 3
    # The retry keeps the Message-IDs given at the first claim.
    assert [r.message_id for r in CampaignRecipient.objects.filter(campaign=campaign).order_by("pk")] == message_ids
    assert len(smtp_server.addresses()) == 3


def test_connection_refused_is_transient_and_keeps_everyone_pending(smtp_settings, smtp_server):
    smtp_settings.EMAIL_PORT = 1  # nothing listens there
    campaign = running_campaign(2)
    with pytest.raises(sending.TransientFailure, match="connect"):
        sending.send_batch(campaign.pk)
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == {R.PENDING}


def test_transient_refusals_give_up_after_max_attempts(smtp_settings, smtp_server):
    smtp_settings.SEND_MAX_ATTEMPTS = 2
    smtp_settings.SEND_RETRY_BACKOFF_SECONDS = 0
    campaign = running_campaign(1)
    smtp_server.fail_next(5)
    for _ in range(2):
        with pytest.raises(sending.TransientFailure):
            sending.send_batch(campaign.pk)
    r = CampaignRecipient.objects.get(campaign=campaign)
    assert r.status == R.FAILED and r.error_message.startswith("gave up after 2 attempts: 451")


def test_paused_campaign_sends_nothing(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    result = sending.send_batch(campaign.pk)
    assert result.stopped and result.claimed == 0
    assert smtp_server.count == 0


@pytest.mark.django_db(transaction=True)
def test_pause_between_messages_stops_before_the_next_one(smtp_settings, smtp_server):
    campaign = running_campaign(3)

    def pause(rcpt):  # right after the server accepted the first message
        if smtp_server.count == 1:
            Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)

    smtp_server.on_accept = pause
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.released, result.stopped) == (1, 2, True)
    assert smtp_server.count == 1
    rows = Counter(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert rows == {R.SENT: 1, R.PENDING: 2}


def test_template_that_stops_rendering_fails_the_campaign(smtp_settings, smtp_server):
    campaign = running_campaign(2)
    campaign.template.body_html = '{% include "missing.html" %}'
    campaign.template.save()
    sending.send_batch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    assert campaign.failure_reason.startswith("The template stopped rendering")
    assert smtp_server.count == 0
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == {R.PENDING}


def test_claims_skip_rows_another_sender_holds(smtp_settings, smtp_server):
    campaign = running_campaign(3)
    held = CampaignRecipient.objects.filter(campaign=campaign).order_by("pk").first()
    CampaignRecipient.objects.filter(pk=held.pk).update(
        status=R.QUEUED, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    result = sending.send_batch(campaign.pk)
    assert result.sent == 2 and held.email_address not in smtp_server.addresses()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # the held one is not final yet


def test_expired_lease_is_released_or_failed_as_interrupted(smtp_settings, smtp_server):
    campaign = running_campaign(3)
    a, b, c = CampaignRecipient.objects.filter(campaign=campaign).order_by("pk")
    past = timezone.now() - timedelta(seconds=1)
    # a: started, its data never handed over; b: handed over (in flight) when its sender died.
    CampaignRecipient.objects.filter(pk=a.pk).update(status=R.QUEUED, lease_expires_at=past, sent_at=past)
    CampaignRecipient.objects.filter(pk=b.pk).update(
        status=R.QUEUED, lease_expires_at=past, sent_at=past, handed_at=past
    )
    CampaignRecipient.objects.filter(pk=c.pk).update(status=R.SENT, sent_at=past)
    assert sending.release_expired_leases() == {"released": 1, "interrupted": 1}
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, a.lease_expires_at, a.sent_at) == (R.PENDING, None, None)
    assert (b.status, b.sent_at, b.error_message) == (R.FAILED, None, sending.INTERRUPTED)
    sending.send_batch(campaign.pk)
    assert smtp_server.addresses() == [a.email_address]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_stalled_campaigns_are_found_but_busy_ones_are_not():
    stalled = running_campaign(1, prefix="stalled")
    busy = running_campaign(1, prefix="busy")
    CampaignRecipientFactory(campaign=busy, sent_at=timezone.now(), status=R.SENT)
    holding = running_campaign(1, prefix="holding")
    CampaignRecipientFactory(campaign=holding, status=R.QUEUED, lease_expires_at=timezone.now() + timedelta(seconds=30))
    done = running_campaign(0)
    assert sending.stalled_campaign_ids(stale_seconds=60) == [stalled.pk]
    assert done.pk not in sending.stalled_campaign_ids(stale_seconds=60)


def test_test_email_is_marked_and_counts_nowhere(smtp_settings, smtp_server):
    campaign = running_campaign(1)
    lead = LeadFactory(first_name="Tess")
    before = list(CampaignRecipient.objects.values_list("pk", "status", "sent_at"))
    tasks.send_test_email.apply(args=(campaign.pk, "qa@example.org", lead.pk))
    assert smtp_server.addresses() == ["qa@example.org"]
    msg = smtp_server.parsed()[0]
    assert msg["Subject"] == "[TEST] Hi Tess, Spring"
    html = msg.get_body(("html",)).get_content()
    assert 'href="https://fliptech.example/offer?a=1&amp;b=2"' in html  # works, records nothing
    assert "/t/o/" not in html and "/t/c/" not in html
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert list(CampaignRecipient.objects.values_list("pk", "status", "sent_at")) == before
    assert not CampaignLink.objects.exists()


def test_test_email_uses_sample_data_without_lead(smtp_settings, smtp_server):
    campaign = running_campaign(0)
    sending.send_test(campaign_id=campaign.pk, to_email="qa@example.org")
    assert smtp_server.parsed()[0]["Subject"] == "[TEST] Hi Jane, Spring"


def test_file_backend_writes_one_eml_per_message(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    campaign = running_campaign(3)
    sending.send_batch(campaign.pk)
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 3
    import email
    import email.policy

    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["Subject"].startswith("Hi Name") and msg.get_body(("plain",)) is not None


def test_other_backends_get_django_messages_with_anymail_metadata(settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    campaign = running_campaign(1)
    sending.send_batch(campaign.pk)
    r = CampaignRecipient.objects.get(campaign=campaign)
    assert r.status == R.SENT
    (msg,) = mail.outbox
    assert msg.metadata == {"token": r.token, "campaign_id": campaign.campaign_id}
    assert msg.extra_headers["Message-ID"] == r.message_id
    assert msg.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.alternatives[0].mimetype == "text/html"


def test_send_rate_limits_batch_size(settings):
    from campaigns.pacing import batch_size_for

    settings.SEND_BATCH_SIZE = 200
    settings.SEND_RATE_PER_HOUR = 0
    assert batch_size_for(CampaignFactory(send_rate_per_hour=None)) == 200
    assert batch_size_for(CampaignFactory(send_rate_per_hour=7200)) == 60
    assert batch_size_for(CampaignFactory(send_rate_per_hour=10)) == 1


def test_database_pacing_spaces_messages(smtp_settings, smtp_server):
    smtp_settings.RATE_LIMIT_REDIS_URL = ""
    campaign = running_campaign(3, send_rate_per_hour=36000)  # one per 0.1 s
    sending.send_batch(campaign.pk)
    times = sorted(CampaignRecipient.objects.filter(campaign=campaign).values_list("sent_at", flat=True))
    assert smtp_server.count == 3
    # sent_at is restamped on acceptance; starts were ≥ 0.1 s apart, so ≥ ~0.2 s overall
    assert (times[-1] - times[0]).total_seconds() >= 0.18


def test_beat_schedule_is_registered_by_the_migration():
    from django_celery_beat.models import PeriodicTask

    tasks_by_name = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    assert tasks_by_name["campaigns.tasks.launch_due_campaigns"] == 10
    assert tasks_by_name["campaigns.tasks.release_expired_leases"] == 10


def test_due_scheduled_campaign_launches_once(settings, django_capture_on_commit_callbacks):
    campaign = running_campaign(1)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1), started_at=None
    )
    future = running_campaign(1, prefix="future")
    Campaign.objects.filter(pk=future.pk).update(
        status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.launch_due_campaigns.apply().get() == [campaign.pk]
        assert tasks.launch_due_campaigns.apply().get() == []
    assert len(callbacks) == 1  # one send_campaign queued
    campaign.refresh_from_db()
    future.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.started_at is not None
    assert future.status == Campaign.Status.SCHEDULED


def test_due_campaign_that_cannot_launch_fails_with_reason():
    campaign = running_campaign(0)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1)
    )
    tasks.launch_due_campaigns.apply()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    assert "no pending recipients" in campaign.failure_reason


def test_backoff_is_exponential_and_capped(settings):
    settings.SEND_RETRY_BACKOFF_SECONDS = 10
    assert [tasks.backoff(n) for n in range(4)] == [10, 20, 40, 80]
    assert tasks.backoff(20) == 600


@pytest.fixture
def pipelining(settings, transactional_db):
    """aiosmtpd does not advertise PIPELINING but reads commands in order: force it on. On
    PostgreSQL the sender then overlaps its database round trips from a helper thread with
    its own connection, which sees committed data only: hence transactional_db."""
    settings.SEND_SMTP_PIPELINING = True


def test_pipelined_smtp_delivers_and_classifies_refusals(smtp_settings, smtp_server, pipelining):
    campaign = running_campaign(3)
    smtp_server.reject("lead1@example.net")
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.failed, result.bounced) == (2, 0, 1)
    assert sorted(smtp_server.addresses()) == ["lead0@example.net", "lead2@example.net"]
    bounced = CampaignRecipient.objects.get(campaign=campaign, email_address="lead1@example.net")
    assert bounced.status == R.BOUNCED and bounced.error_message.startswith("550 5.1.1")
    for msg in smtp_server.parsed():
        assert msg.get_body(("html",)).get_content().startswith("<html>")


def test_pipelined_smtp_temporary_refusal_is_transient(smtp_settings, smtp_server, pipelining):
    smtp_settings.SEND_RETRY_BACKOFF_SECONDS = 0
    campaign = running_campaign(2)
    smtp_server.fail_next(1)
    with pytest.raises(sending.TransientFailure, match="451"):
        sending.send_batch(campaign.pk)
    assert sending.send_batch(campaign.pk).sent == 2
    assert sorted(smtp_server.addresses()) == ["lead0@example.net", "lead1@example.net"]


def test_lines_over_998_octets_are_base64_encoded(smtp_settings, smtp_server):
    campaign = running_campaign(1)
    campaign.template.body_html = "<p>" + "word " * 400 + "{{ lead.first_name }}.</p>"
    campaign.template.save()
    sending.send_batch(campaign.pk)
    (raw,) = [data for _, data in smtp_server.messages]
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = smtp_server.parsed()[0]
    assert msg.get_body(("html",))["Content-Transfer-Encoding"] == "base64"
    assert "word Name0.</p>" in msg.get_body(("html",)).get_content()


def test_celery_is_configured_for_redelivery_not_loss(settings):
    from fliptech.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert tasks.send_campaign.acks_late is True and tasks.send_campaign.reject_on_worker_lost is True
    if settings.CELERY_BROKER_URL.startswith("redis"):
        # Longer than any batch: ≤ SEND_BATCH_SIZE messages, or ~30 s when paced.
        assert app.conf.broker_transport_options["visibility_timeout"] >= 600


def test_concurrent_claims_skip_locked_rows_instead_of_waiting(require_postgres, transactional_db):
    """PostgreSQL: while one sender's claim transaction holds rows, another claims the
    others at once (SKIP LOCKED), never the same ones."""
    import threading

    from django.db import connections, transaction

    campaign = running_campaign(6)
    holding, release_it, taken = threading.Event(), threading.Event(), []

    def first_sender():
        try:
            with transaction.atomic():
                rows = list(
                    CampaignRecipient.objects.filter(campaign=campaign)
                    .order_by("pk")
                    .select_for_update(skip_locked=True)[:3]
                )
                taken.extend(r.pk for r in rows)
                holding.set()
                release_it.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_sender)
    thread.start()
    assert holding.wait(10)
    try:
        claimed = sending.claim_batch(campaign=campaign, size=10)
    finally:
        release_it.set()
        thread.join()
    assert len(claimed) == 3 and not {r.pk for r in claimed} & set(taken)


def test_redis_pacing_spaces_reservations_across_senders(require_redis, settings):
    from campaigns.pacing import Pacer, _redis

    settings.SEND_RATE_PER_HOUR = 0
    campaign = CampaignFactory(send_rate_per_hour=36_000)  # 0.1 s apart
    _redis().delete(f"fliptech:pace:campaign:{campaign.pk}")
    a, b = Pacer(campaign), Pacer(campaign)
    waits = [a.reserve(), b.reserve(), a.reserve(), b.reserve()]
    assert waits[0] == pytest.approx(0, abs=0.02)
    assert [round(w, 1) for w in waits[1:]] == [0.1, 0.2, 0.3]


def test_global_cap_applies_to_every_campaign(require_redis, settings):
    from campaigns.pacing import GLOBAL_KEY, Pacer, _redis

    settings.SEND_RATE_PER_HOUR = 36_000
    _redis().delete(GLOBAL_KEY)
    one, two = CampaignFactory(), CampaignFactory()
    waits = [Pacer(one).reserve(), Pacer(two).reserve(), Pacer(one).reserve()]
    assert [round(w, 1) for w in waits] == [0.0, 0.1, 0.2]


def test_pipelined_pause_between_messages_delivers_nothing_more(smtp_settings, smtp_server, pipelining, monkeypatch):
    campaign = running_campaign(4)
    from campaigns.sending import transport

    real_finish = transport.smtp_finish

    def finish_then_pause(conn, data):
        real_finish(conn, data)
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)

    monkeypatch.setattr(transport, "smtp_finish", finish_then_pause)
    result = sending.send_batch(campaign.pk)
    # The start of message 2 may have run before the pause committed (it overlaps message
    # 1's DATA); it then completes. Nothing after it starts.
    assert result.stopped and result.sent in (1, 2) and smtp_server.count == result.sent
    rows = Counter(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert rows == {R.SENT: result.sent, R.PENDING: 4 - result.sent}
    assert not CampaignRecipient.objects.filter(campaign=campaign, status=R.PENDING, sent_at__isnull=False).exists()


def test_pipelined_suppression_found_at_start_hangs_up_without_delivering(smtp_settings, smtp_server, pipelining):
    campaign = running_campaign(3)
    SuppressionFactory(email="lead1@example.net", reason="complaint")
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.failed) == (2, 1)
    assert sorted(smtp_server.addresses()) == ["lead0@example.net", "lead2@example.net"]
    r = CampaignRecipient.objects.get(campaign=campaign, email_address="lead1@example.net")
    assert (r.status, r.error_message) == (R.FAILED, "suppressed: complaint")


def test_pipelined_render_failure_mid_batch_undoes_the_pending_start(smtp_settings, smtp_server, pipelining):
    campaign = running_campaign(0)
    campaign.template.body_html = (
        "<p>{{ lead.attributes.n }}{% if lead.attributes.boom %}{% include 'x.html' %}{% endif %}</p>"
    )
    campaign.template.save()
    for i, boom in enumerate([False, True, False]):
        lead = LeadFactory(email=f"r{i}@example.net", attributes={"n": 1, "boom": boom})
        CampaignRecipientFactory(campaign=campaign, lead=lead)
    sending.send_batch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED and "stopped rendering" in campaign.failure_reason
    assert smtp_server.addresses() == ["r0@example.net"]
    rows = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", "status"))
    assert rows == {"r0@example.net": R.SENT, "r1@example.net": R.PENDING, "r2@example.net": R.PENDING}
    assert not CampaignRecipient.objects.filter(campaign=campaign, sent_at__isnull=False, status=R.PENDING).exists()


def test_render_failure_mid_batch_leaves_no_started_row_behind(smtp_settings, smtp_server):
    campaign = running_campaign(0)
    campaign.template.body_html = (
        "<p>{{ lead.first_name }}{% if lead.attributes.boom %}{% include 'x.html' %}{% endif %}</p>"
    )
    campaign.template.save()
    for i, boom in enumerate([False, True, False]):
        CampaignRecipientFactory(
            campaign=campaign, lead=LeadFactory(email=f"m{i}@example.net", attributes={"boom": boom})
        )
    sending.send_batch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    assert smtp_server.addresses() == ["m0@example.net"]
    rows = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", "status"))
    assert rows == {"m0@example.net": R.SENT, "m1@example.net": R.PENDING, "m2@example.net": R.PENDING}
    assert not CampaignRecipient.objects.filter(campaign=campaign, sent_at__isnull=False, status=R.PENDING).exists()
