"""POST /api/v1/leads/import and GET /api/v1/leads/imports/{id}: real CSV files, the task run
as Celery runs it (eagerly, on commit)."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Lead, LeadImport, Suppression
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/import"


@pytest.fixture(autouse=True)
def eager_celery():
    from fliptech.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def upload(api, django_capture_on_commit_callbacks):
    """POST a file (str or bytes) with form fields; the import runs on commit. Returns the response."""

    def post(content, name="leads.csv", **fields):
        data = content.encode() if isinstance(content, str) else content
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(URL, {"file": SimpleUploadedFile(name, data, "text/csv"), **fields}, format="multipart")

    return post


def report(api, response):
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["url"] == f"/api/v1/leads/imports/{body['id']}"
    return api.get(body["url"]).json()


COUNTS = ("created", "updated", "unchanged", "invalid", "duplicates", "suppressed")


def counts(rep):
    return {key: rep[key] for key in COUNTS}


def test_import_creates_leads_from_a_csv_with_bom_and_guessed_headers(api, upload):
    text = '\ufeffE-mail,First Name,lastname,Company,Tags,Plan\r\nAnn@Example.com,Ann,Lee,Acme,"vip, roofing",gold\r\n'
    rep = report(api, upload(text))

    assert rep["status"] == "completed" and rep["progress_percentage"] == 100.0
    assert rep["total_rows"] == rep["processed_rows"] == 1
    assert counts(rep) == {"created": 1, "updated": 0, "unchanged": 0, "invalid": 0, "duplicates": 0, "suppressed": 0}
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.last_name, lead.company) == ("ann@example.com", "Ann", "Lee", "Acme")
    assert lead.tags == ["vip", "roofing"] and lead.attributes == {"Plan": "gold"}
    assert rep["completed_at"] and rep["started_at"] and rep["failure_reason"] == ""


def test_semicolon_file_with_bad_rows_reports_each_line_and_imports_the_rest(api, upload):
    text = (
        "email;first_name;status;city\n"
        "good@example.com;Good;qualified;Austin\n"
        "not-an-email;Bad;new;Austin\n"
        ";NoEmail;new;Austin\n"
        f"long@example.com;{'x' * 101};new;Austin\n"
        "status@example.com;S;sleeping;Austin\n"
        "\n"
        "last@example.com;Last;New;Dallas\n"
    )
    rep = report(api, upload(text))

    assert counts(rep) == {"created": 2, "updated": 0, "unchanged": 0, "invalid": 4, "duplicates": 0, "suppressed": 0}
    assert rep["total_rows"] == 6  # the blank line is not a row
    assert [(e["line"], e["email"]) for e in rep["errors"]] == [
        (3, "not-an-email"),
        (4, ""),
        (5, "long@example.com"),
        (6, "status@example.com"),
    ]
    assert "email" in rep["errors"][0]["message"] and "100 characters" in rep["errors"][2]["message"]
    assert "status" in rep["errors"][3]["message"]
    assert set(Lead.objects.values_list("email", "status")) == {
        ("good@example.com", "qualified"),
        ("last@example.com", "new"),
    }


def test_duplicate_rows_are_counted_and_the_first_wins(api, upload, settings):
    settings.IMPORT_CHUNK_ROWS = 2  # the second copy is in another chunk than the first
    text = "email,first_name\na@example.com,First\nb@example.com,B\nc@example.com,C\nA@EXAMPLE.COM,Second\n"
    rep = report(api, upload(text))

    assert counts(rep) == {"created": 3, "updated": 0, "unchanged": 0, "invalid": 0, "duplicates": 1, "suppressed": 0}
    assert Lead.objects.get(email="a@example.com").first_name == "First"


def test_suppressed_addresses_are_imported_and_counted(api, upload):
    Suppression.objects.create(email="gone@example.com", reason="unsubscribed")
    rep = report(api, upload("email\ngone@example.com\nhere@example.com\n"))

    assert rep["created"] == 2 and rep["suppressed"] == 1
    assert Lead.objects.filter(email="gone@example.com").exists()


def test_importing_the_same_file_twice_changes_nothing_the_second_time(api, upload):
    text = "email,first_name,tags,Score\na@example.com,Ann,vip,10\nb@example.com,Bob,,7\n"
    first = report(api, upload(text))
    before = list(Lead.objects.order_by("email").values())

    second = report(api, upload(text))

    assert first["created"] == 2
    assert counts(second) == {
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "invalid": 0,
        "duplicates": 0,
        "suppressed": 0,
    }
    assert list(Lead.objects.order_by("email").values()) == before  # updated_at included


def test_existing_leads_are_updated_with_the_cells_given_tags_added_attributes_merged(api, upload):
    LeadFactory(email="a@example.com", first_name="Old", company="Keep", tags=["old"], attributes={"x": "1"})
    rep = report(api, upload("email,first_name,company,y\nA@example.com,New, ,2\n", tags="fresh"))

    assert rep["updated"] == 1 and rep["created"] == 0
    lead = Lead.objects.get()
    assert (lead.first_name, lead.company) == ("New", "Keep")  # an empty cell keeps the value
    assert lead.tags == ["old", "fresh"] and lead.attributes == {"x": "1", "y": "2"}


def test_update_existing_false_leaves_existing_leads_alone(api, upload):
    LeadFactory(email="a@example.com", first_name="Old")
    rep = report(api, upload("email,first_name\na@example.com,New\nb@example.com,B\n", update_existing="false"))

    assert (rep["created"], rep["updated"], rep["unchanged"]) == (1, 0, 1)
    assert Lead.objects.get(email="a@example.com").first_name == "Old"


def test_mapping_renames_and_ignores_columns(api, upload):
    text = "Mail Address,Who,Junk\nann@example.com,Ann,zzz\n"
    mapping = json.dumps({"Mail Address": "email", "Who": "first_name", "Junk": "ignore"})
    rep = report(api, upload(text, mapping=mapping))

    assert rep["created"] == 1
    assert rep["targets"] == ["email", "first_name", "ignore"]
    lead = Lead.objects.get()
    assert lead.first_name == "Ann" and lead.attributes == {}


@pytest.mark.parametrize(
    ("content", "fields", "needle"),
    [
        ("first_name\nAnn\n", {}, "No email column"),
        ("", {}, "empty"),
        ("   \n\n", {}, "empty"),
        ("email\n", {}, "no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "Not a CSV"),
        (b"email\n\xff\xfe@x.com\n", {}, "UTF-8"),
        ("email\na@example.com\n", {"mapping": "{not json"}, "not valid JSON"),
        ("email\na@example.com\n", {"mapping": '["email"]'}, "JSON object"),
        ("email,x\na@example.com,1\n", {"mapping": '{"x": "favourite_colour"}'}, "Unknown lead field"),
        ("email\na@example.com\n", {"mapping": '{"nope": "city"}'}, "does not have"),
        ("email,mail\na@example.com,b@example.com\n", {}, "both go to"),
    ],
)
def test_a_file_that_cannot_be_imported_is_a_400_and_nothing_is_stored(api, upload, content, fields, needle):
    response = upload(content, **fields)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_import" and needle in response.json()["detail"]
    assert not LeadImport.objects.exists() and not Lead.objects.exists()


def test_a_request_without_a_file_is_a_400(api):
    response = api.post(URL, {"tags": "x"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


def test_a_file_over_import_max_bytes_is_refused(api, upload, settings):
    settings.IMPORT_MAX_BYTES = 1000
    response = upload("email\n" + "someone@example.com\n" * 60)

    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert not LeadImport.objects.exists()


def test_importing_needs_the_lead_permissions(client_for, viewer):
    response = client_for(viewer).post(
        URL, {"file": SimpleUploadedFile("a.csv", b"email\na@example.com\n")}, format="multipart"
    )
    assert response.status_code == 403 and not LeadImport.objects.exists()


def test_unknown_import_is_a_404(api):
    assert api.get("/api/v1/leads/imports/999999").status_code == 404
    assert api.get("/api/v1/leads/imports/abc").status_code == 404


def test_invalid_rows_download_as_csv_with_their_cells(api, upload):
    rep = report(api, upload("email,first_name\nbad,Ann\nok@example.com,Ok\n=cmd@x,Evil\n"))
    response = api.get(rep["errors_url"])

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["line", "message", "email", "first_name"]
    assert [row[0] for row in rows[1:]] == ["2", "4"]
    assert rows[1][2:] == ["bad", "Ann"] and rows[2][2] == "'=cmd@x"  # formula-safe


def test_rows_with_too_many_cells_and_bad_attributes_json_are_invalid(api, upload):
    text = 'email,attributes\na@example.com,"{""k"": 1}"\nb@example.com,[1]\nc@example.com,{},extra\n'
    rep = report(api, upload(text))

    assert (rep["created"], rep["invalid"]) == (1, 2)
    assert Lead.objects.get().attributes == {"k": 1}
    assert [e["line"] for e in rep["errors"]] == [3, 4]


def test_a_quoted_cell_spanning_lines_keeps_the_line_numbers_of_the_file(api, upload):
    text = 'email,company\na@example.com,"Two\nlines"\nbad,x\n'
    rep = report(api, upload(text))

    # Line breaks are refused in lead text (one set of input rules with the API).
    assert [(e["line"], e["email"]) for e in rep["errors"]] == [(2, "a@example.com"), (4, "bad")]
