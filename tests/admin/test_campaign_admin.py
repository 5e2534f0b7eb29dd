"""The marketers' admin, through Django's test client (the browser flow is in test_browser.py)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from tests.factories import (
    CampaignFactory,
    CampaignRecipientFactory,
    EmailTemplateFactory,
    EmailTrackingFactory,
    LeadFactory,
    SuppressionFactory,
)

pytestmark = pytest.mark.django_db

Status = Campaign.Status


def change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def control_url(campaign, verb):
    return reverse(f"admin:campaigns_campaign_{verb}", args=[campaign.pk])


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def campaign_with_recipients(n=3, **kwargs):
    campaign = CampaignFactory(**kwargs)
    for _ in range(n):
        CampaignRecipientFactory(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    campaign.refresh_from_db()
    return campaign


def mark_sent(campaign, opened=0, clicked=0):
    now = timezone.now()
    rows = list(campaign.recipients.order_by("pk"))
    for i, r in enumerate(rows):
        r.status = CampaignRecipient.Status.SENT
        r.sent_at = now
        r.opened_at = now if i < opened else None
        r.clicked_at = now if i < clicked else None
        r.save()


# --- list ---------------------------------------------------------------------------


def test_campaign_list_shows_status_sent_and_rates(admin_client):
    campaign = campaign_with_recipients(4, name="Spring offer", status=Status.COMPLETED)
    mark_sent(campaign, opened=2, clicked=1)

    response = admin_client.get(reverse("admin:campaigns_campaign_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Spring offer" in html
    assert "ft-status ft-status-completed" in html
    assert "50.0%" in html  # 2 of 4 delivered opened
    assert "25.0%" in html  # 1 of 4 clicked


def test_campaign_list_queries_do_not_grow_with_the_page(admin_client, django_assert_max_num_queries):
    for _ in range(3):
        campaign_with_recipients(2)
    admin_client.get(reverse("admin:campaigns_campaign_changelist"))  # warm the session/content types
    with django_assert_max_num_queries(12) as few:
        admin_client.get(reverse("admin:campaigns_campaign_changelist"))
    for _ in range(20):
        campaign_with_recipients(2)
    # Same number of queries for 23 campaigns as for 3: metrics come from one grouped query.
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(reverse("admin:campaigns_campaign_changelist"))
    assert response.content.decode().count('class="ft-status ') == 23


# --- buttons --------------------------------------------------------------------------


def test_launch_button_starts_a_draft_and_queues_the_send(admin_client, django_capture_on_commit_callbacks):
    campaign = campaign_with_recipients(3)

    with mock.patch("campaigns.tasks.send_campaign.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(control_url(campaign, "launch"))

    assert response.status_code == 302 and response.url == change_url(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.RUNNING
    delay.assert_called_once_with(campaign.pk)
    assert any("launched" in t for t in texts(response))


def test_launch_button_on_a_completed_campaign_shows_the_409_message(admin_client):
    campaign = campaign_with_recipients(1, status=Status.COMPLETED)

    response = admin_client.post(control_url(campaign, "launch"), follow=True)

    assert response.status_code == 200
    assert "Cannot launch a campaign that is completed." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Status.COMPLETED


def test_launch_button_without_recipients_shows_the_400_message(admin_client):
    campaign = CampaignFactory()

    response = admin_client.post(control_url(campaign, "launch"), follow=True)

    assert "no pending recipients" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_launch_button_with_a_broken_template_shows_the_template_error(admin_client):
    campaign = campaign_with_recipients(1, template=EmailTemplateFactory(body_html="{% if %}"))

    response = admin_client.post(control_url(campaign, "launch"), follow=True)

    assert response.status_code == 200
    assert any("Could not launch" in t for t in texts(response))
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_launch_button_answers_get_with_a_redirect_and_changes_nothing(admin_client):
    campaign = campaign_with_recipients(1)

    response = admin_client.get(control_url(campaign, "launch"))

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_schedule_button_schedules_a_draft_with_a_future_time(admin_client):
    when = timezone.now() + timedelta(hours=2)
    campaign = campaign_with_recipients(1, scheduled_at=when)

    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'id="ft-schedule"' in page
    admin_client.post(control_url(campaign, "schedule"))

    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED


def test_pause_then_resume_buttons(admin_client, django_capture_on_commit_callbacks):
    campaign = campaign_with_recipients(2, status=Status.RUNNING)

    admin_client.post(control_url(campaign, "pause"))
    campaign.refresh_from_db()
    assert campaign.status == Status.PAUSED and campaign.paused_at is not None

    with mock.patch("campaigns.tasks.send_campaign.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(control_url(campaign, "resume"))
    campaign.refresh_from_db()
    assert campaign.status == Status.RUNNING and campaign.paused_at is None
    delay.assert_called_once_with(campaign.pk)


def test_resume_on_a_draft_shows_the_409_message(admin_client):
    campaign = campaign_with_recipients(1)

    response = admin_client.post(control_url(campaign, "resume"), follow=True)

    assert "Cannot resume a campaign that is draft." in response.content.decode()


def test_send_test_button_queues_one_test_message(admin_client, django_capture_on_commit_callbacks):
    campaign = campaign_with_recipients(1)

    with mock.patch("campaigns.tasks.send_test_email.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(control_url(campaign, "send_test"), {"test_email": "me@example.com"})

    delay.assert_called_once_with(campaign.pk, "me@example.com", None)
    assert any("me@example.com" in t for t in texts(response))


def test_send_test_button_with_a_bad_address_shows_an_error(admin_client, django_capture_on_commit_callbacks):
    campaign = campaign_with_recipients(1)

    with mock.patch("campaigns.tasks.send_test_email.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(control_url(campaign, "send_test"), {"test_email": "not-an-address"})

    delay.assert_not_called()
    assert any("valid email address" in t for t in texts(response))


def test_buttons_need_the_change_permission(client, viewer):
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    campaign = campaign_with_recipients(1)

    response = client.post(control_url(campaign, "launch"))

    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_unknown_campaign_button_is_a_404(admin_client):
    assert admin_client.post("/admin/campaigns/campaign/999999/launch/").status_code == 404
    assert admin_client.post("/admin/campaigns/campaign/abc/launch/").status_code == 404


# --- actions --------------------------------------------------------------------------


def test_launch_action_launches_what_it_can_and_reports_the_rest(admin_client):
    ready = campaign_with_recipients(1)
    done = campaign_with_recipients(1, status=Status.COMPLETED)

    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "launch_selected", "_selected_action": [ready.pk, done.pk]},
        follow=True,
    )

    ready.refresh_from_db()
    done.refresh_from_db()
    assert (ready.status, done.status) == (Status.RUNNING, Status.COMPLETED)
    messages = texts(response)
    assert any("Launch: 1 campaign(s)." in t for t in messages)
    assert any(done.name in t and "Cannot launch" in t for t in messages)


def test_pause_action_pauses_running_and_unschedules_scheduled(admin_client):
    running = campaign_with_recipients(1, status=Status.RUNNING)
    scheduled = campaign_with_recipients(1, status=Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(days=1))

    admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "pause_selected", "_selected_action": [running.pk, scheduled.pk]},
    )

    running.refresh_from_db()
    scheduled.refresh_from_db()
    assert (running.status, scheduled.status) == (Status.PAUSED, Status.DRAFT)


# --- change page: stats panel, editing, deleting ------------------------------------


def test_change_page_shows_the_stats_panel_and_chart(admin_client):
    campaign = campaign_with_recipients(4, status=Status.COMPLETED)
    mark_sent(campaign, opened=2, clicked=1)
    recipient = campaign.recipients.first()
    EmailTrackingFactory(campaign_recipient=recipient, campaign=campaign)

    html = admin_client.get(change_url(campaign)).content.decode()

    assert 'id="ft-stats"' in html
    assert 'id="ft-sent">4<' in html
    assert 'id="ft-opened">2<' in html
    assert "<svg" in html and "sends" in html
    assert 'id="ft-launch"' not in html  # a completed campaign cannot be launched
    assert f"?campaign={campaign.pk}" in html


def test_change_page_of_a_new_draft_offers_launch_and_says_nothing_sent(admin_client):
    campaign = campaign_with_recipients(2)

    html = admin_client.get(change_url(campaign)).content.decode()

    assert 'id="ft-launch"' in html and 'id="ft-pause"' not in html
    assert 'id="ft-no-chart"' in html


def test_change_page_lists_hourly_bars_for_each_hour():
    from campaigns.admin import hourly_chart_svg

    t0 = timezone.now().replace(minute=0, second=0, microsecond=0)
    svg = hourly_chart_svg(
        {
            "sends": [{"hour": t0 - timedelta(hours=2), "count": 10}, {"hour": t0, "count": 5}],
            "opens": [{"hour": (t0 - timedelta(hours=1)).isoformat(), "count": 3}],
            "clicks": [],
        }
    )

    assert svg.count("<rect") == 3
    assert f"{t0 - timedelta(hours=11):%b %d %H}:00" in svg  # at least 12 hours on the axis
    assert "10 sends" in svg and "3 opens" in svg
    assert hourly_chart_svg({"sends": [], "opens": [], "clicks": []}) == ""


def test_editing_a_draft_name_saves_only_that_field(admin_client):
    campaign = campaign_with_recipients(1, name="Old")
    form = admin_client.get(change_url(campaign)).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update({"name": "New", "template": campaign.template_id, "track_opens": "on", "track_clicks": "on"})
    data.update({"steps-TOTAL_FORMS": "0", "steps-INITIAL_FORMS": "0"})  # the follow-up steps inline
    # Meanwhile the sender moves the campaign on; the admin's save must not undo that.
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=7)

    response = admin_client.post(change_url(campaign), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert (campaign.name, campaign.total_recipients) == ("New", 7)


def test_a_running_campaign_is_read_only_in_the_admin(admin_client):
    campaign = campaign_with_recipients(1, status=Status.RUNNING)

    form = admin_client.get(change_url(campaign)).context["adminform"].form

    assert "name" not in form.fields and "template" not in form.fields


def test_adding_a_campaign_records_its_creator(admin_client, admin_user):
    template = EmailTemplateFactory()

    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {"name": "From the admin", "template": template.pk, "track_opens": "on", "track_clicks": "on"},
    )

    assert response.status_code == 302
    campaign = Campaign.objects.get(name="From the admin")
    assert campaign.created_by == admin_user and campaign.status == Status.DRAFT


def test_deleting_a_campaign_is_a_soft_delete(admin_client):
    campaign = campaign_with_recipients(2)

    admin_client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})

    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert Campaign.all_objects.get(pk=campaign.pk).deleted_at is not None
    assert CampaignRecipient.objects.filter(campaign_id=campaign.pk).count() == 2


def test_a_running_campaign_cannot_be_deleted(admin_client):
    campaign = campaign_with_recipients(1, status=Status.RUNNING)

    response = admin_client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Campaign.objects.filter(pk=campaign.pk).exists()


# --- other lists ------------------------------------------------------------------------


def test_recipient_list_filtered_by_campaign(admin_client):
    mine = campaign_with_recipients(2)
    other = campaign_with_recipients(3)

    response = admin_client.get(reverse("admin:campaigns_campaignrecipient_changelist") + f"?campaign={mine.pk}")

    assert response.status_code == 200
    shown = {r.pk for r in response.context["cl"].result_list}
    assert shown == set(mine.recipients.values_list("pk", flat=True))
    assert not shown & set(other.recipients.values_list("pk", flat=True))


def test_recipient_list_with_a_bad_campaign_parameter_is_empty_not_an_error(admin_client):
    campaign_with_recipients(1)

    response = admin_client.get(reverse("admin:campaigns_campaignrecipient_changelist") + "?campaign=x")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_lead_list_search_and_filters(admin_client):
    LeadFactory(email="plumber@example.com", source="craigslist")
    LeadFactory(email="baker@example.com", source="linkedin")

    response = admin_client.get(reverse("admin:campaigns_lead_changelist") + "?q=plumber&source=craigslist")

    assert response.status_code == 200
    assert [lead.email for lead in response.context["cl"].result_list] == ["plumber@example.com"]


def test_template_preview_renders_for_a_lead(admin_client):
    template = EmailTemplateFactory(subject="Hi {{ lead.first_name }}")
    lead = LeadFactory(first_name="Zoe")

    response = admin_client.get(
        reverse("admin:campaigns_emailtemplate_preview", args=[template.pk]) + f"?lead={lead.pk}"
    )

    assert response.status_code == 200
    assert "Subject: Hi Zoe" in response.content.decode()
    assert 'sandbox=""' in response.content.decode()


def test_template_with_a_syntax_error_is_refused_on_save(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_emailtemplate_add"),
        {"name": "Broken", "subject": "Hi", "body_html": "<p>{% if %}</p>"},
    )

    assert response.status_code == 200
    assert "body_html" in response.context["adminform"].form.errors


def test_event_list_is_read_only_and_filters_by_campaign(admin_client):
    event = EmailTrackingFactory()
    EmailTrackingFactory()

    response = admin_client.get(reverse("admin:tracking_emailtracking_changelist") + f"?campaign={event.campaign_id}")

    assert response.status_code == 200
    assert [e.pk for e in response.context["cl"].result_list] == [event.pk]
    assert admin_client.get(reverse("admin:tracking_emailtracking_add")).status_code == 403


def test_add_to_campaign_action_asks_which_campaign_accepts_recipients(admin_client):
    lead = LeadFactory()
    draft = CampaignFactory(name="Open draft")
    CampaignFactory(name="Busy sending", status=Status.RUNNING)

    response = admin_client.post(
        reverse("admin:campaigns_lead_changelist"), {"action": "add_to_campaign", "_selected_action": [lead.pk]}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<option value="{draft.pk}">Open draft' in html and "Busy sending" not in html


def test_add_to_campaign_action_adds_leads_and_reports_the_skipped(admin_client):
    campaign = campaign_with_recipients(1)
    already = campaign.recipients.get().lead
    new = [LeadFactory(), LeadFactory()]

    response = admin_client.post(
        reverse("admin:campaigns_lead_changelist"),
        {
            "action": "add_to_campaign",
            "apply": "1",
            "campaign": campaign.pk,
            "_selected_action": [already.pk, *(lead.pk for lead in new)],
        },
        follow=True,
    )

    campaign.refresh_from_db()
    assert campaign.total_recipients == 3
    assert set(campaign.recipients.values_list("lead_id", flat=True)) == {already.pk, *(lead.pk for lead in new)}
    assert any("Added 2 of 3 lead(s)" in t and "1 duplicates" in t for t in texts(response))


def test_add_to_a_running_campaign_shows_the_409_message(admin_client):
    campaign = campaign_with_recipients(1, status=Status.RUNNING)
    lead = LeadFactory()

    response = admin_client.post(
        reverse("admin:campaigns_lead_changelist"),
        {"action": "add_to_campaign", "apply": "1", "campaign": campaign.pk, "_selected_action": [lead.pk]},
        follow=True,
    )

    assert any("Could not add" in t for t in texts(response))
    assert campaign.recipients.count() == 1


def test_recipient_and_event_lists_do_not_count_the_whole_table(admin_client, django_assert_max_num_queries):
    campaign = campaign_with_recipients(30)
    for recipient in campaign.recipients.all()[:10]:
        EmailTrackingFactory(campaign_recipient=recipient, campaign=campaign)

    with django_assert_max_num_queries(10):
        assert admin_client.get(reverse("admin:campaigns_campaignrecipient_changelist")).status_code == 200
    # The lead list adds two: the tag filter's choices and the page's suppressions.
    with django_assert_max_num_queries(12):
        assert admin_client.get(reverse("admin:campaigns_lead_changelist")).status_code == 200
    with django_assert_max_num_queries(10):
        assert admin_client.get(reverse("admin:tracking_emailtracking_changelist")).status_code == 200


def test_big_unfiltered_lists_use_the_row_estimate_on_postgresql(
    admin_client, require_postgres, monkeypatch, django_assert_max_num_queries
):
    from django.db import connection

    from campaigns.admin import EstimatedCountPaginator

    for _ in range(5):
        LeadFactory()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_lead")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 0)

    with django_assert_max_num_queries(10) as ctx:
        response = admin_client.get(reverse("admin:campaigns_lead_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 5  # the estimate, exact here after ANALYZE
    assert not [q for q in ctx.captured_queries if 'COUNT(*) AS "__count" FROM "campaigns_lead"' in q["sql"]]
    filtered = admin_client.get(reverse("admin:campaigns_lead_changelist") + "?q=nobody-matches")
    assert filtered.context["cl"].result_count == 0  # filtered lists are counted exactly


def test_a_past_schedule_time_is_refused_in_the_form(admin_client):
    template = EmailTemplateFactory()

    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Too late",
            "template": template.pk,
            "track_opens": "on",
            "track_clicks": "on",
            "scheduled_at_0": "2020-01-01",
            "scheduled_at_1": "10:00:00",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["scheduled_at"] == ["Must be in the future."]
    assert not Campaign.objects.filter(name="Too late").exists()


@pytest.mark.parametrize("bad", ["99999999999999999999999", "0", "-1", "1.5", "%00"])
def test_odd_ids_in_admin_urls_never_answer_500(admin_client, bad):
    campaign = campaign_with_recipients(1)
    template = campaign.template
    urls = [
        f"/admin/campaigns/campaign/{bad}/change/",
        f"/admin/campaigns/campaign/{bad}/launch/",
        f"/admin/campaigns/emailtemplate/{bad}/preview/",
        f"/admin/campaigns/emailtemplate/{template.pk}/preview/?lead={bad}",
        f"/admin/campaigns/campaignrecipient/?campaign={bad}",
        f"/admin/tracking/emailtracking/?campaign={bad}",
    ]
    for url in urls:
        for method in (admin_client.get, admin_client.post):
            assert method(url).status_code in (200, 302, 404), (method, url)
    response = admin_client.post(
        reverse("admin:campaigns_lead_changelist"),
        {"action": "add_to_campaign", "apply": "1", "campaign": bad, "_selected_action": [LeadFactory().pk]},
    )
    assert response.status_code in (200, 302)


def test_template_preview_html_cannot_break_out_of_its_sandboxed_frame(admin_client):
    template = EmailTemplateFactory(
        subject="<b>bold</b>", body_html='<p title="x">Hi</p><script>alert(1)</script>"><img src=x onerror=alert(2)>'
    )

    html = admin_client.get(reverse("admin:campaigns_emailtemplate_preview", args=[template.pk])).content.decode()

    frame = html[html.index("<iframe") : html.index("</iframe>")]
    assert "<script>" not in frame and "<img" not in frame and "&lt;script&gt;" in frame
    assert "<b>bold</b>" not in html


def test_send_test_button_personalises_for_a_chosen_lead(admin_client, django_capture_on_commit_callbacks):
    campaign = campaign_with_recipients(1)
    lead = LeadFactory()

    with mock.patch("campaigns.tasks.send_test_email.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(control_url(campaign, "send_test"), {"test_email": "me@example.com", "lead": lead.pk})
            response = admin_client.post(
                control_url(campaign, "send_test"), {"test_email": "me@example.com", "lead": "999999"}
            )

    delay.assert_called_once_with(campaign.pk, "me@example.com", lead.pk)
    assert any("No lead has the id" in t for t in texts(response))


def test_a_running_campaign_page_polls_its_live_numbers_instead_of_reloading(admin_client):
    running = campaign_with_recipients(1, status=Status.RUNNING)

    html = admin_client.get(change_url(running)).content.decode()

    assert 'http-equiv="refresh"' not in html
    assert f'data-url="/admin/campaigns/campaign/{running.pk}/live.json" data-status="running"' in html


def test_template_autocomplete_finds_templates_by_name(admin_client):
    EmailTemplateFactory(name="Spring offer")
    EmailTemplateFactory(name="Winter sale")

    response = admin_client.get(
        "/admin/autocomplete/",
        {"term": "spring", "app_label": "campaigns", "model_name": "campaign", "field_name": "template"},
    )

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Spring offer"]


def test_duplicate_action_makes_a_draft_with_the_same_content_and_leads(admin_client, admin_user):
    original = campaign_with_recipients(3, status=Status.COMPLETED, subject="Hello", send_rate_per_hour=100)
    mark_sent(original)
    suppressed = original.recipients.order_by("pk").first()
    SuppressionFactory(email=suppressed.email_address)

    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "duplicate_selected", "_selected_action": [original.pk]},
        follow=True,
    )

    copy = Campaign.objects.get(name=f"{original.name} (copy)")
    assert (copy.status, copy.subject, copy.send_rate_per_hour, copy.template_id, copy.created_by) == (
        Status.DRAFT,
        "Hello",
        100,
        original.template_id,
        admin_user,
    )
    assert copy.total_recipients == 2
    assert set(copy.recipients.values_list("status", flat=True)) == {CampaignRecipient.Status.PENDING}
    assert any("with 2 of 3 recipient(s)" in t for t in texts(response))
