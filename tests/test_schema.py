"""The OpenAPI schema validates, with no warning, and documents the campaign endpoints."""

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    # --fail-on-warn turns any drf-spectacular warning or error into SystemExit(1).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = schema["paths"]
    for path in [
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{id}/",
        "/api/v1/campaigns/health/",
        "/api/v1/campaigns/{id}/launch/",
        "/api/v1/campaigns/{id}/pause/",
        "/api/v1/campaigns/{id}/resume/",
        "/api/v1/campaigns/{id}/test/",
    ]:
        assert path in paths, path


def test_campaign_endpoints_document_their_error_answers(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    assert {"201", "400", "401", "403"} <= set(paths["/api/v1/campaigns/"]["post"]["responses"])
    assert {"200", "400", "401", "403", "404", "409"} <= set(
        paths["/api/v1/campaigns/{id}/launch/"]["post"]["responses"]
    )
    assert {"200", "401", "403", "404", "409"} <= set(paths["/api/v1/campaigns/{id}/"]["delete"]["responses"])
    assert {"200", "503"} <= set(paths["/api/v1/campaigns/health/"]["get"]["responses"])
    # No security requirement: the health check is public, the rest need a token or session.
    assert paths["/api/v1/campaigns/health/"]["get"].get("security", [{}]) == [{}]
    assert {"tokenAuth": []} in paths["/api/v1/campaigns/{id}/"]["get"]["security"]
    list_params = {p["name"] for p in paths["/api/v1/campaigns/"]["get"]["parameters"]}
    assert {
        "status",
        "template_id",
        "search",
        "date_from",
        "date_to",
        "page",
        "page_size",
        "sort_by",
        "sort_order",
    } <= list_params


def test_campaign_without_from_or_reply_to_matches_its_documented_shape(tmp_path, api):
    import jsonschema

    from tests.factories import CampaignFactory

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out))
    properties = yaml.safe_load(out.read_text())["components"]["schemas"]["CampaignResponse"]["properties"]
    campaign = CampaignFactory(from_email="", reply_to="")  # e.g. made in the admin
    body = api.get(f"/api/v1/campaigns/{campaign.pk}").json()
    assert (body["from_email"], body["reply_to"]) == ("", "")
    for name in ["reply_to", "from_email"]:
        jsonschema.validate(body[name], properties[name], format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("method", ["options", "post", "delete"])
def test_docs_page_answers_other_methods_with_405(api, method):
    response = getattr(api, method)("/api/docs/")
    assert response.status_code == 405


def test_docs_page_still_renders(api):
    assert api.get("/api/docs/").status_code == 200
