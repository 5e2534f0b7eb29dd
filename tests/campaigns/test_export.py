"""GET /api/v1/leads/export and /api/v1/campaigns/{id}/recipients/export: streamed CSV,
formula-safe, and an export imported again changes nothing."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns.exports import LEAD_COLUMNS, RECIPIENT_COLUMNS
from campaigns.models import Lead
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv") and response.streaming
    return b"".join(response.streaming_content)


def rows(response):
    return list(csv.reader(io.StringIO(body(response).decode("utf-8-sig"))))


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    from fliptech.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = before


def test_lead_export_has_every_field_tags_joined_and_attributes_as_json(api):
    made = LeadFactory(
        email="a@example.com", first_name="Ann", tags=["vip", "roofing"], attributes={"plan": "gold", "n": 3}
    )

    header, row = rows(api.get("/api/v1/leads/export"))

    assert header == list(LEAD_COLUMNS)
    # The API's stored fields, in its order; the computed `engagement_score` and the derived
    # `email_status` are not columns (an exported file must import back unchanged, and
    # neither is an input).
    derived = {"engagement_score", "email_status"}
    assert header == [name for name in api.get(f"/api/v1/leads/{made.pk}").json() if name not in derived]
    lead = dict(zip(header, row, strict=True))
    assert lead["email"] == "a@example.com" and lead["first_name"] == "Ann"
    assert lead["tags"] == "vip, roofing"
    assert __import__("json").loads(lead["attributes"]) == {"plan": "gold", "n": 3}
    assert lead["created_at"].endswith("Z")


def test_lead_export_applies_the_list_filters(api):
    LeadFactory(email="a@example.com", source="craigslist", tags=["vip"])
    LeadFactory(email="b@example.com", source="linkedin", tags=["vip"])
    LeadFactory(email="c@example.com", source="craigslist", tags=["other"])

    got = rows(api.get("/api/v1/leads/export", {"source": "craigslist", "tag": "vip"}))

    assert [row[1] for row in got[1:]] == ["a@example.com"]


def test_a_bad_filter_value_is_a_400(api):
    response = api.get("/api/v1/leads/export", {"status": "sleeping"})
    assert response.status_code == 400 and "status" in response.json()


def test_cells_that_start_a_formula_are_prefixed_with_a_quote(api):
    LeadFactory(
        email="x@example.com",
        first_name='=HYPERLINK("http://evil")',
        last_name="+1",
        company="-2",
        city="@SUM(A1)",
        phone="\tx",
        source="\rx",
        tags=["=cmd"],
    )

    lead = dict(zip(*rows(api.get("/api/v1/leads/export")), strict=True))

    assert lead["first_name"] == '\'=HYPERLINK("http://evil")'
    assert (lead["last_name"], lead["company"], lead["city"]) == ("'+1", "'-2", "'@SUM(A1)")
    assert (lead["phone"], lead["source"], lead["tags"]) == ("'\tx", "'\rx", "'=cmd")


def test_importing_an_export_changes_nothing(api, eager):
    LeadFactory(
        email="a@example.com",
        first_name="Ann",
        phone="+1 555 0100",
        tags=["vip", "roofing"],
        attributes={"plan": "gold", "n": 3, "nested": {"k": [1, 2]}},
        status="qualified",
    )
    LeadFactory(email="b@example.com", first_name="", company="=1+1", tags=[], attributes={})
    before = list(Lead.objects.order_by("pk").values())
    exported = body(api.get("/api/v1/leads/export"))

    with eager(execute=True):
        response = api.post(
            "/api/v1/leads/import", {"file": SimpleUploadedFile("export.csv", exported)}, format="multipart"
        )
    report = api.get(response.json()["url"]).json()

    assert (report["status"], report["unchanged"], report["total_rows"]) == ("completed", 2, 2), report
    assert report["created"] == report["updated"] == report["invalid"] == 0
    assert list(Lead.objects.order_by("pk").values()) == before


def test_recipient_export_has_the_contract_columns_and_the_list_filters(api):
    campaign = CampaignFactory()
    now = timezone.now()
    CampaignRecipientFactory(
        campaign=campaign, email_address="o@example.com", status="sent", sent_at=now, opened_at=now, open_count=2
    )
    CampaignRecipientFactory(campaign=campaign, email_address="n@example.com", status="sent", sent_at=now)
    CampaignRecipientFactory(email_address="other@example.com")  # another campaign

    everyone = rows(api.get(f"/api/v1/campaigns/{campaign.pk}/recipients/export"))
    opened = rows(api.get(f"/api/v1/campaigns/{campaign.campaign_id}/recipients/export", {"has_opened": "true"}))

    assert everyone[0] == list(RECIPIENT_COLUMNS)
    assert sorted(row[0] for row in everyone[1:]) == ["n@example.com", "o@example.com"]
    [row] = [dict(zip(everyone[0], r, strict=True)) for r in opened[1:]]
    assert row["email"] == "o@example.com" and row["status"] == "sent" and row["open_count"] == "2"
    assert row["opened_at"].endswith("Z") and row["clicked_at"] == ""


def test_recipient_export_of_an_unknown_campaign_is_a_404(api):
    assert api.get("/api/v1/campaigns/999999/recipients/export").status_code == 404
    assert api.get("/api/v1/campaigns/nope/recipients/export").status_code == 404


def test_export_answers_an_accept_text_csv_client(api):
    LeadFactory()
    assert api.get("/api/v1/leads/export", HTTP_ACCEPT="text/csv").status_code == 200


def test_export_of_an_unknown_segment_answers_404(api):
    response = api.get("/api/v1/leads/export", {"segment_id": "999999"})
    assert response.status_code == 404


def test_segment_export_writes_the_segments_members(api):
    LeadFactory(email="in@example.com", tags=["vip"])
    LeadFactory(email="out@example.com", tags=[])
    segment = api.post(
        "/api/v1/segments",
        {
            "name": "VIP",
            "rules": {"match": "all", "conditions": [{"field": "tags", "op": "has_any", "value": ["vip"]}]},
        },
        format="json",
    ).json()

    got = rows(api.get("/api/v1/leads/export", {"segment_id": segment["id"]}))

    assert [row[1] for row in got[1:]] == ["in@example.com"]
