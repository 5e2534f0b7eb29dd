"""GET /api/v1/campaigns/{id}/checklist and launch's 409 not_ready: the message as the first
recipient gets it, the From domain's DKIM/SPF/DMARC from a real DNS server on loopback, the
spam score from a real spamd (Debian's SpamAssassin) on loopback."""

import io
import re

import pytest
from django.core.management import call_command

from campaigns.models import Campaign
from tests.conftest import need
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db
CODES = [
    "recipients",
    "template_renders",
    "subject",
    "unsubscribe_link",
    "text_part",
    "images",
    "links",
    "tracking_https",
    "dkim",
    "spf",
    "dmarc",
    "spam_score",
]
GOOD_HTML = (
    "<html><body><p>Hello {{ lead.first_name|default:'there' }}, we renovate kitchens and bathrooms in your "
    "city and would like to show you three recent projects with prices.</p>"
    '<p><img src="https://fliptech.example/k.jpg" alt="A kitchen we renovated"></p>'
    '<p>See <a href="https://fliptech.example/offer">our offer</a> or write to '
    '<a href="mailto:team@fliptech.example">the team</a>.</p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def url(campaign, what="checklist"):
    return f"/api/v1/campaigns/{campaign.pk}/{what}"


def by_code(answer):
    return {c["code"]: c for c in answer["checks"]}


def campaign_with(body_html=GOOD_HTML, subject="Three kitchens near you", recipients=1, **fields):
    template = EmailTemplateFactory(subject=subject, body_html=body_html)
    campaign = CampaignFactory(template=template, from_email="news@fliptech.example", **fields)
    for _ in range(recipients):
        CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(first_name="Ann"))
    return campaign


@pytest.fixture
def dns(dns_zone, settings):
    settings.DNS_NAMESERVERS = [f"127.0.0.1:{dns_zone.port}"]
    settings.DNS_TIMEOUT = 2.0
    settings.SITE_URL = "https://mail.fliptech.example"
    return dns_zone


@pytest.fixture
def published(dns, settings, tmp_path):
    """DKIM key configured, and its record, SPF and DMARC published for fliptech.example."""
    out = io.StringIO()
    call_command("dkim_keygen", "--selector", "ft1", "--domain", "fliptech.example", stdout=out)
    text = out.getvalue()
    key = re.search(r"-----BEGIN RSA PRIVATE KEY-----.*?-----END RSA PRIVATE KEY-----", text, re.DOTALL)[0]
    name, strings = re.search(r"^(\S+)\. 3600 IN TXT (.+)$", text, re.MULTILINE).groups()
    (tmp_path / "dkim.pem").write_text(key)
    settings.DKIM_PRIVATE_KEY, settings.DKIM_SELECTOR = str(tmp_path / "dkim.pem"), "ft1"
    dns.records[(name + ".", "TXT")] = ["".join(re.findall(r'"([^"]*)"', strings))]
    dns.records[("fliptech.example.", "TXT")] = ["v=spf1 ip4:192.0.2.10 -all", "google-site-verification=x"]
    dns.records[("_dmarc.fliptech.example.", "TXT")] = ["v=DMARC1; p=quarantine; rua=mailto:d@fliptech.example"]
    return dns


def test_a_campaign_with_everything_in_place_is_ready_with_every_check_ok(api, published):
    response = api.get(url(campaign_with()))

    assert response.status_code == 200
    body = response.json()
    assert [c["code"] for c in body["checks"]] == CODES
    assert body["ready"] is True
    assert {c["code"]: c["level"] for c in body["checks"]} == dict.fromkeys(CODES, "ok"), body
    checks = by_code(body)
    assert "p=quarantine" in checks["dmarc"]["message"] and "ip4:192.0.2.10" in checks["spf"]["message"]
    assert checks["spam_score"]["message"] == "Not checked (SPAMD_URL is not set)."


def test_missing_records_are_warnings_that_say_what_to_publish(api, dns, settings):
    settings.DKIM_PRIVATE_KEY = ""
    body = api.get(url(campaign_with())).json()
    checks = by_code(body)
    assert body["ready"] is True
    assert {code: checks[code]["level"] for code in ("dkim", "spf", "dmarc")} == dict.fromkeys(
        ("dkim", "spf", "dmarc"), "warning"
    )
    assert "DKIM_PRIVATE_KEY" in checks["dkim"]["message"]
    assert "No SPF record on fliptech.example" in checks["spf"]["message"]
    assert "_dmarc.fliptech.example" in checks["dmarc"]["message"]


def test_a_dkim_record_of_another_key_and_a_lax_spf_are_warnings(api, published):
    name = next(n for n, t in published.records if "_domainkey" in n)
    published.records[(name, "TXT")] = ["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong"]
    published.records[("fliptech.example.", "TXT")] = ["v=spf1 +all"]
    checks = by_code(api.get(url(campaign_with())).json())
    assert checks["dkim"]["level"] == "warning" and "not our key" in checks["dkim"]["message"]
    assert checks["spf"]["level"] == "warning" and "lets anyone send" in checks["spf"]["message"]


def test_an_unreachable_dns_is_a_warning_never_an_error(api, settings):
    settings.DNS_NAMESERVERS, settings.DNS_TIMEOUT = ["127.0.0.1:9"], 0.3
    body = api.get(url(campaign_with())).json()
    checks = by_code(body)
    for code in ("spf", "dmarc"):
        assert checks[code]["level"] == "warning" and "did not answer" in checks[code]["message"]
    assert body["ready"] is True


def test_content_problems_are_warnings(api, settings, dns):
    settings.SITE_URL = "http://mail.fliptech.example"
    html = (
        '<html><body><img src="https://fliptech.example/all.png">'
        '<a href="http://fliptech.example/x">x</a> <a href="https://bit.ly/abc">y</a> <a href="#">z</a>'
        "</body></html>"
    )
    body = api.get(url(campaign_with(body_html=html, subject="BUY NOW!! GREAT KITCHENS"))).json()
    checks = by_code(body)
    assert body["ready"] is True
    for code in ("subject", "unsubscribe_link", "text_part", "images", "links", "tracking_https"):
        assert checks[code]["level"] == "warning", (code, checks[code])
    assert "Only the List-Unsubscribe header" in checks["unsubscribe_link"]["message"]
    assert "only images" in checks["images"]["message"] and "without alt" in checks["images"]["message"]
    assert "bit.ly" in checks["links"]["message"] and "plain http" in checks["links"]["message"]


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda: campaign_with(recipients=0), "recipients"),
        (lambda: CampaignFactory(template=None, from_email="news@fliptech.example"), "template_renders"),
        (lambda: campaign_with(body_html="<p>{{ lead.first_name|no_such_filter }}</p>"), "template_renders"),
        (lambda: campaign_with(subject="{{ lead.nothing }}"), "subject"),
    ],
)
def test_an_error_makes_it_not_ready_and_launch_answers_409_with_the_failing_checks(
    api, dns, make, code, django_capture_on_commit_callbacks
):
    campaign = make()
    if code == "template_renders" and campaign.template is None:
        CampaignRecipientFactory(campaign=campaign)
    body = api.get(url(campaign)).json()
    assert body["ready"] is False and by_code(body)[code]["level"] == "error"

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(url(campaign, "launch"), {}, format="json")
    assert response.status_code == 409
    answer = response.json()
    assert answer["code"] == "not_ready" and answer["detail"]
    assert [c["code"] for c in answer["checks"]] == [code]
    assert answer["checks"][0]["level"] == "error"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not callbacks


def test_the_checklist_needs_the_campaign_view_permission(api, client_for, viewer, anon_client):
    campaign = campaign_with()
    assert client_for(viewer).get(url(campaign)).status_code == 403
    assert anon_client.get(url(campaign)).status_code == 401
    assert api.get("/api/v1/campaigns/424242/checklist").status_code == 404
    assert api.get(f"/api/v1/campaigns/{campaign.campaign_id}/checklist/").status_code == 200


def test_the_admin_shows_the_checklist_before_launch_only(admin_client, dns):
    campaign = campaign_with(recipients=0)
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'id="ft-checklist"' in page and "not ready" in page
    assert "The campaign has no pending recipients" in page
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'id="ft-checklist"' not in page


def test_the_admin_launch_button_says_why_it_is_not_ready(admin_client, dns):
    campaign = campaign_with(recipients=0)
    response = admin_client.post(f"/admin/campaigns/campaign/{campaign.pk}/launch/", follow=True)
    assert "not ready" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


# --- spam score: a real spamd --------------------------------------------------------------


@pytest.fixture(scope="module")
def spamd_server():
    from tests.campaigns.spamd import Spamd, ensure_installed

    need(ensure_installed() is not None, "SpamAssassin's spamd (.ci/setup-spamassassin.sh)")
    server = Spamd()
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        need(False, f"a running spamd ({exc})")
    yield server
    server.stop()


@pytest.fixture
def spamd(spamd_server, settings):
    settings.SPAMD_URL = spamd_server.url
    return spamd_server


def test_spamd_scores_a_clean_message_ok(api, spamd, dns):
    check = by_code(api.get(url(campaign_with())).json())["spam_score"]
    assert check["level"] == "ok", check
    assert re.match(r"SpamAssassin score -?[\d.]+ \(spam from 5\)", check["message"])


def test_a_message_spamd_calls_spam_is_an_error_and_launch_refuses_it(api, spamd, dns):
    campaign = campaign_with(body_html=GOOD_HTML.replace("</body>", f"<p>{GTUBE}</p></body>"))
    body = api.get(url(campaign)).json()
    check = by_code(body)["spam_score"]
    assert body["ready"] is False and check["level"] == "error" and "GTUBE" in check["message"]

    response = api.post(url(campaign, "launch"), {}, format="json")
    assert response.status_code == 409 and [c["code"] for c in response.json()["checks"]] == ["spam_score"]


def test_an_unreachable_spamd_is_a_warning(api, settings, dns):
    settings.SPAMD_URL, settings.SPAMD_TIMEOUT = "tcp://127.0.0.1:9", 1
    check = by_code(api.get(url(campaign_with())).json())["spam_score"]
    assert check["level"] == "warning" and "did not answer" in check["message"]


def test_the_schema_documents_the_checklist_and_email_status(tmp_path):
    import yaml

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    checklist = schema["paths"]["/api/v1/campaigns/{id}/checklist/"]["get"]
    assert {"200", "401", "403", "404"} <= set(checklist["responses"])
    launch_409 = schema["paths"]["/api/v1/campaigns/{id}/launch/"]["post"]["responses"]["409"]
    assert "not_ready" in launch_409["description"]
    assert "email_status" in schema["components"]["schemas"]["Lead"]["properties"]
    params = {p["name"] for p in schema["paths"]["/api/v1/leads/"]["get"]["parameters"]}
    assert "email_status" in params
