"""Sending windows in the recipient's time zone: a message outside its window waits (pending,
due when it opens), the others go ahead; follow-ups falling due at night wait for the morning."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns import sending, windows
from campaigns.models import Campaign, CampaignRecipient, Lead, RecipientMessage
from tests.steps.helpers import campaign_with_steps

pytestmark = pytest.mark.django_db
WINDOW = {"days": list(windows.DAYS), "start": "09:00", "end": "17:00", "timezone": "lead"}


def zones_in_and_out(window=WINDOW):
    """A fixed-offset zone where it is now inside `window` (09:00–17:00), and one where it is
    outside."""
    now = timezone.now()
    inside = outside = None
    for offset in range(-12, 15):
        name = f"Etc/GMT{-offset:+d}" if offset else "UTC"
        is_open = windows.opens_at(window, windows.zone(name), now) is None
        inside = inside or (name if is_open else None)
        outside = outside or (None if is_open else name)
    return inside, outside


@pytest.mark.parametrize(
    "window",
    [WINDOW, {**WINDOW, "start": "22:00", "end": "06:00"}],  # a night window: it waits for the evening
    ids=["day", "across midnight"],
)
def test_a_recipient_outside_their_window_waits_and_the_others_go_ahead(smtp_settings, smtp_server, window):
    inside, outside = zones_in_and_out(window)
    campaign = campaign_with_steps(2, steps=[])
    Campaign.objects.filter(pk=campaign.pk).update(send_window=window)
    Lead.objects.filter(email="s0@example.net").update(timezone=inside)
    Lead.objects.filter(email="s1@example.net").update(timezone=outside)
    sending.send_batch(campaign.pk)
    sending.send_batch(campaign.pk)

    assert smtp_server.addresses() == ["s0@example.net"]
    waiting = CampaignRecipient.objects.get(email_address="s1@example.net")
    assert waiting.status == "pending"
    opens = windows.opens_at(window, windows.zone(outside), timezone.now())
    assert waiting.not_before == opens and opens > timezone.now()
    assert opens.astimezone(windows.zone(outside)).strftime("%H:%M") == window["start"]


def test_a_follow_up_due_outside_the_window_waits_for_it(smtp_settings, smtp_server):
    inside, outside = zones_in_and_out()
    campaign = campaign_with_steps(1, steps=[(timedelta(0), "no_reply", "")])
    Lead.objects.update(timezone=inside)
    sending.send_batch(campaign.pk)  # the first message, inside the window
    Lead.objects.update(timezone=outside)  # the follow-up falls due at night (for this lead now)
    Campaign.objects.filter(pk=campaign.pk).update(send_window=WINDOW)
    campaign.refresh_from_db()
    sending.send_batch(campaign.pk)
    step = RecipientMessage.objects.get()
    assert smtp_server.count == 1 and step.status == "pending" and step.due_at > timezone.now()


def test_a_campaign_window_in_a_fixed_zone_ignores_the_leads_zone():
    inside, outside = zones_in_and_out()
    window = {**WINDOW, "timezone": inside}
    campaign = Campaign(send_window=window, timezone="UTC")
    lead = Lead(timezone=outside)
    assert windows.opens_at(window, windows.zone_for(window, campaign, lead), timezone.now()) is None


@pytest.mark.parametrize(
    "window",
    [
        {"days": [], "start": "09:00", "end": "17:00"},
        {"days": ["monday"], "start": "09:00", "end": "17:00"},
        {"start": "9", "end": "17:00"},
        {"start": "09:00", "end": "09:00"},
        {"start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"},
        {"start": "09:00", "end": "17:00", "colour": "red"},
        "9-5",
    ],
)
def test_a_bad_send_window_is_a_400(api, window):
    campaign = campaign_with_steps(1, steps=[], status="draft")
    response = api.patch(f"/api/v1/campaigns/{campaign.pk}", {"send_window": window}, format="json")
    assert response.status_code == 400 and "send_window" in response.json()


def test_send_window_and_timezone_are_read_and_written(api):
    campaign = campaign_with_steps(1, steps=[], status="draft")
    body = api.patch(
        f"/api/v1/campaigns/{campaign.pk}", {"send_window": WINDOW, "timezone": "Europe/Berlin"}, format="json"
    ).json()
    assert body["send_window"] == WINDOW and body["timezone"] == "Europe/Berlin"
    assert api.patch(f"/api/v1/campaigns/{campaign.pk}", {"timezone": "Nowhere/Else"}, format="json").status_code == 400


def test_a_lead_timezone_must_be_iana_and_is_importable(api, django_capture_on_commit_callbacks):
    bad = api.post("/api/v1/leads", {"email": "x@example.net", "timezone": "Moon/Base"}, format="json")
    assert bad.status_code == 400 and "timezone" in bad.json()
    ok = api.post("/api/v1/leads", {"email": "y@example.net", "timezone": "America/Chicago"}, format="json")
    assert ok.status_code == 201 and ok.json()["timezone"] == "America/Chicago"

    from fliptech.celery import app

    app.conf.task_always_eager = True
    try:
        csv = "email,Time Zone\na@example.net,Asia/Tokyo\nb@example.net,Not/AZone\n"
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v1/leads/import",
                {"file": SimpleUploadedFile("leads.csv", csv.encode(), "text/csv")},
                format="multipart",
            )
    finally:
        app.conf.task_always_eager = False
    report = api.get(response.json()["url"]).json()
    assert (report["created"], report["invalid"]) == (1, 1), report
    assert Lead.objects.get(email="a@example.net").timezone == "Asia/Tokyo"


NIGHT = {"days": ["fri"], "start": "22:00", "end": "06:00", "timezone": "Europe/Berlin"}
BERLIN = windows.zone("Europe/Berlin")


def at(text, tz=BERLIN):
    """A wall-clock time in `tz` ("2026-12-04 21:59"), as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize(
    "now, opens",
    [
        ("2026-12-04 21:59", "2026-12-04 22:00"),  # Friday, one minute before
        ("2026-12-04 22:00", None),  # it opens (start inclusive)
        ("2026-12-04 23:59", None),
        ("2026-12-05 00:00", None),  # Saturday after midnight: still Friday's window
        ("2026-12-05 05:59", None),
        ("2026-12-05 06:00", "2026-12-11 22:00"),  # end exclusive: next Friday
        ("2026-12-05 22:30", "2026-12-11 22:00"),  # Saturday night is not a window day
        ("2026-12-04 05:00", "2026-12-04 22:00"),  # Friday morning belongs to Thursday's night
    ],
)
def test_a_window_across_midnight_runs_from_its_day_into_the_next_morning(now, opens):
    assert windows.opens_at(NIGHT, BERLIN, at(now)) == (at(opens) if opens else None)


def test_a_window_across_midnight_is_accepted_by_the_api(api):
    campaign = campaign_with_steps(1, steps=[], status="draft")
    response = api.patch(f"/api/v1/campaigns/{campaign.pk}", {"send_window": NIGHT}, format="json")
    assert response.status_code == 200 and response.json()["send_window"] == NIGHT


def test_a_night_window_keeps_its_wall_clock_times_across_dst():
    """Europe/Berlin: summer time ends on Sunday 2026-10-25 (03:00 CEST → 02:00 CET) and
    starts on Sunday 2026-03-29 (02:00 CET → 03:00 CEST)."""
    window = {**NIGHT, "days": ["sat"], "start": "22:00", "end": "04:00"}
    # The night of the change back: 22:00 CEST to 04:00 CET, seven hours, not six.
    assert windows.opens_at(window, BERLIN, at("2026-10-24 21:59")) == datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    for utc_hour in (20, 23, 0, 1, 2):  # 22:30 CEST … 03:30 CET (02:30 comes twice)
        day = 24 if utc_hour >= 20 else 25
        assert windows.opens_at(window, BERLIN, datetime(2026, 10, day, utc_hour, 30, tzinfo=UTC)) is None
    assert windows.opens_at(window, BERLIN, datetime(2026, 10, 25, 3, 0, tzinfo=UTC)) is not None  # 04:00 CET
    # The night the clocks go forward: 22:00 CET to 04:00 CEST, five hours.
    assert windows.opens_at(window, BERLIN, datetime(2026, 3, 29, 1, 59, tzinfo=UTC)) is None  # 03:59 CEST
    assert windows.opens_at(window, BERLIN, datetime(2026, 3, 29, 2, 0, tzinfo=UTC)) is not None  # 04:00 CEST


def test_a_window_opening_in_the_skipped_hour_opens_when_the_clocks_resume():
    window = {"days": ["sun"], "start": "02:30", "end": "05:00", "timezone": "Europe/Berlin"}
    opens = windows.opens_at(window, BERLIN, datetime(2026, 3, 29, 0, 0, tzinfo=UTC))  # 01:00 CET
    assert opens == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, the first instant after 02:30
    assert windows.opens_at(window, BERLIN, opens) is None
