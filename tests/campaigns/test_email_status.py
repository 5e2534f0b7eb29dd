"""Lead `email_status`: role accounts and disposable domains are `risky`, a domain without a
mail server is `invalid` with EMAIL_CHECK_MX=1 (looked up through a real DNS server on
loopback), endpoint 7 and imports skip `invalid` and count `risky`, the lead list filters on it."""

import importlib

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns import addresses
from campaigns.models import CampaignRecipient, Lead
from tests.factories import CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_mx_cache():
    addresses._mx_cache.clear()
    yield
    addresses._mx_cache.clear()


@pytest.fixture
def mx_dns(dns_zone, settings):
    """EMAIL_CHECK_MX=1 against the loopback DNS: shop.example and mailinator.com have an MX, bare.example only a
    public A record (RFC 5321's fallback), nomail.example a null MX; any other name does not exist."""
    dns_zone.records[("shop.example.", "MX")] = [(10, "mx.shop.example.")]
    dns_zone.records[("mailinator.com.", "MX")] = [(10, "mail.mailinator.com.")]
    dns_zone.records[("bare.example.", "A")] = ["93.184.215.14"]
    dns_zone.records[("nomail.example.", "MX")] = [(0, ".")]
    settings.EMAIL_CHECK_MX = True
    settings.DNS_NAMESERVERS = [f"127.0.0.1:{dns_zone.port}"]
    settings.DNS_TIMEOUT = 2.0
    return dns_zone


@pytest.mark.parametrize(
    "email, status",
    [
        ("ann@shop.example", "valid"),
        ("info@shop.example", "risky"),
        ("Sales+leads@shop.example", "risky"),
        ("ann@mailinator.com", "risky"),
        ("ann@x.mailinator.com", "risky"),  # a parent domain on the list counts
        ("information.desk@shop.example", "valid"),  # not a role name
    ],
)
def test_role_accounts_and_disposable_domains_are_risky(email, status):
    assert addresses.address_status(email.lower(), check_mx=False) == status


def test_without_the_mx_setting_no_dns_is_asked(settings):
    settings.EMAIL_CHECK_MX = False
    settings.DNS_NAMESERVERS = ["127.0.0.1:9"]  # would time out if asked
    assert Lead.objects.create(email="ann@nowhere-at-all.example").email_status == "valid"


def test_mx_lookup_decides_valid_invalid_and_unknown(mx_dns, settings):
    assert addresses.address_status("ann@shop.example") == "valid"
    assert addresses.address_status("ann@bare.example") == "valid"
    assert addresses.address_status("info@shop.example") == "risky"
    assert addresses.address_status("ann@nomail.example") == "invalid"
    assert addresses.address_status("ann@gone.example") == "invalid"
    assert addresses.address_status("info@gone.example") == "invalid"  # no mail server beats risky
    # A DNS that does not answer says nothing: unknown, not invalid.
    settings.DNS_NAMESERVERS, settings.DNS_TIMEOUT = ["127.0.0.1:9"], 0.3
    assert addresses.address_status("ann@silent.example") == "unknown"


def test_the_api_exposes_email_status_read_only_and_filters_on_it(api):
    assert api.post("/api/v1/leads", {"email": "info@shop.example"}, format="json").json()["email_status"] == "risky"
    created = api.post("/api/v1/leads", {"email": "ann@shop.example", "email_status": "invalid"}, format="json")
    assert created.status_code == 201 and created.json()["email_status"] == "valid"
    changed = api.patch(f"/api/v1/leads/{created.json()['id']}", {"email": "ann@mailinator.com"}, format="json")
    assert changed.json()["email_status"] == "risky"

    risky = api.get("/api/v1/leads", {"email_status": "risky"}).json()
    assert sorted(lead["email"] for lead in risky["leads"]) == ["ann@mailinator.com", "info@shop.example"]
    assert api.get("/api/v1/leads", {"email_status": "valid"}).json()["total"] == 0
    bad = api.get("/api/v1/leads", {"email_status": "great"})
    assert bad.status_code == 400 and "email_status" in bad.json()


def test_email_validator_refuses_what_the_old_check_let_through(api):
    response = api.post("/api/v1/leads", {"email": "ann..lee@shop.example"}, format="json")
    assert response.status_code == 400 and "email" in response.json()
    assert not Lead.objects.exists()


def test_endpoint_7_skips_addresses_whose_domain_takes_no_mail_and_counts_risky(api, mx_dns):
    campaign = CampaignFactory()
    body = {
        "leads": [
            {"email": "ann@shop.example"},
            {"email": "info@shop.example"},
            {"email": "bob@nomail.example"},
            {"email": "cid@gone.example"},
        ]
    }
    answer = api.post(f"/api/v1/campaigns/{campaign.pk}/recipients", body, format="json").json()

    assert (answer["successful"], answer["invalid"], answer["risky"]) == (2, 2, 1)
    assert "1 added address(es) are risky" in answer["message"]
    messages = {e["item"]: e["message"] for e in answer["errors"]}
    assert "does not accept mail" in messages["bob@nomail.example"]
    assert set(Lead.objects.values_list("email", "email_status")) == {
        ("ann@shop.example", "valid"),
        ("info@shop.example", "risky"),
    }  # the invalid ones are not written at all
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2


def test_endpoint_7_skips_stored_invalid_leads_by_id_and_by_filter(api):
    good, role = LeadFactory(email="ann@shop.example"), LeadFactory(email="info@shop.example", source="maps")
    dead = LeadFactory(email="bob@nomail.example", source="maps")
    Lead.objects.filter(pk=dead.pk).update(email_status="invalid")  # e.g. created by hand with EMAIL_CHECK_MX=1
    campaign = CampaignFactory()

    answer = api.post(
        f"/api/v1/campaigns/{campaign.pk}/recipients", {"lead_ids": [good.pk, dead.pk]}, format="json"
    ).json()
    assert (answer["successful"], answer["invalid"], answer["risky"]) == (1, 1, 0)
    other = CampaignFactory()
    answer = api.post(
        f"/api/v1/campaigns/{other.pk}/recipients", {"lead_filters": {"sources": ["maps"]}}, format="json"
    ).json()
    assert (answer["successful"], answer["invalid"], answer["risky"]) == (1, 1, 1)
    assert list(CampaignRecipient.objects.filter(campaign=other).values_list("lead_id", flat=True)) == [role.pk]


def test_import_skips_invalid_rows_and_counts_risky(api, mx_dns, django_capture_on_commit_callbacks):
    from fliptech.celery import app

    csv = "email,first_name\nann@shop.example,Ann\ninfo@shop.example,\nbob@nomail.example,Bob\nzed@mailinator.com,\n"
    app.conf.task_always_eager, before = True, app.conf.task_always_eager
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v1/leads/import",
                {"file": SimpleUploadedFile("leads.csv", csv.encode(), "text/csv")},
                format="multipart",
            )
    finally:
        app.conf.task_always_eager = before
    report = api.get(response.json()["url"]).json()

    assert (report["created"], report["invalid"], report["risky"]) == (3, 1, 2)
    assert [(e["line"], e["email"]) for e in report["errors"]] == [(4, "bob@nomail.example")]
    assert dict(Lead.objects.values_list("email", "email_status")) == {
        "ann@shop.example": "valid",
        "info@shop.example": "risky",
        "zed@mailinator.com": "risky",
    }


def test_the_migration_classifies_existing_leads_without_dns(settings):
    settings.EMAIL_CHECK_MX = True
    settings.DNS_NAMESERVERS = ["127.0.0.1:9"]  # would time out if asked
    leads = {
        email: LeadFactory(email=email).pk for email in ("ann@shop.example", "info@shop.example", "x@trashmail.com")
    }
    Lead.objects.update(email_status="unknown")
    Lead.objects.filter(pk=leads["ann@shop.example"]).update(email="not an address")
    migration = importlib.import_module("campaigns.migrations.0020_check_email_status")

    migration.classify(apps, None)

    assert dict(Lead.objects.values_list("pk", "email_status")) == {
        leads["ann@shop.example"]: "invalid",
        leads["info@shop.example"]: "risky",
        leads["x@trashmail.com"]: "risky",
    }


def test_the_admin_lead_list_filters_on_email_status(admin_client):
    LeadFactory(email="ann@shop.example")
    LeadFactory(email="info@shop.example")
    page = admin_client.get("/admin/campaigns/lead/", {"email_status__exact": "risky"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "info@shop.example" in text and "ann@shop.example" not in text
    assert "By email status" in admin_client.get("/admin/campaigns/lead/").content.decode()
