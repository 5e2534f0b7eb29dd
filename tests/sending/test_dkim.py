"""DKIM: a key from `manage.py dkim_keygen`, its record served by a real DNS server on
loopback, every message over SMTP signed and verified by dkimpy against that DNS answer."""

import io
import re

import dkim
import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.factories import CampaignFactory, EmailTemplateFactory

pytestmark = pytest.mark.django_db
SELECTOR = "ft2026"


def keygen():
    out = io.StringIO()
    call_command("dkim_keygen", "--selector", SELECTOR, "--domain", "fliptech.example", stdout=out)
    text = out.getvalue()
    key = re.search(r"-----BEGIN RSA PRIVATE KEY-----.*?-----END RSA PRIVATE KEY-----", text, re.DOTALL)[0]
    name, strings = re.search(r"^(\S+)\. 3600 IN TXT (.+)$", text, re.MULTILINE).groups()
    return key, name, "".join(re.findall(r'"([^"]*)"', strings))


def send_one():
    campaign = CampaignFactory(
        template=EmailTemplateFactory(),
        status=Campaign.Status.RUNNING,
        started_at=timezone.now(),
        from_email="news@fliptech.example",
    )
    lead = Lead.objects.create(email="ann@example.net", first_name="Ann")
    CampaignRecipient.objects.create(campaign=campaign, lead=lead, email_address=lead.email)
    assert sending.send_batch(campaign.pk).sent == 1


@pytest.fixture
def dkim_dns(dns_zone, smtp_settings, tmp_path):
    key, name, record = keygen()
    assert name == f"{SELECTOR}._domainkey.fliptech.example" and record.startswith("v=DKIM1; k=rsa; p=")
    dns_zone.records[(name + ".", "TXT")] = [record]
    key_file = tmp_path / "dkim.pem"
    key_file.write_text(key)
    smtp_settings.DKIM_PRIVATE_KEY, smtp_settings.DKIM_SELECTOR = str(key_file), SELECTOR
    resolver = dns_zone.resolver()

    def txt(qname, timeout=5):
        answer = resolver.resolve(qname.decode().rstrip("."), "TXT")
        return b"".join(answer[0].strings)

    return txt


def test_every_smtp_message_is_signed_and_verifies_against_the_dns_record(dkim_dns, smtp_server):
    send_one()
    ((_, raw),) = smtp_server.messages
    assert raw.startswith(b"DKIM-Signature:")
    signature = smtp_server.parsed()[0]["DKIM-Signature"]
    tags = dict(part.strip().split("=", 1) for part in re.sub(r"\s+", " ", signature).split(";") if "=" in part)
    assert (tags["c"], tags["d"], tags["s"], tags["a"]) == (
        "relaxed/relaxed",
        "fliptech.example",
        SELECTOR,
        "rsa-sha256",
    )
    signed = tags["h"].replace(" ", "").lower().split(":")
    for header in ("from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"):
        assert header in signed
    assert "mime-version" in signed and "content-type" in signed
    assert dkim.verify(raw, dnsfunc=dkim_dns)
    assert not dkim.verify(raw.replace(b"Hello", b"Hullo", 1), dnsfunc=dkim_dns)  # a changed body fails


def test_the_key_may_be_pem_text_in_the_environment(dkim_dns, smtp_settings, smtp_server, tmp_path):
    smtp_settings.DKIM_PRIVATE_KEY = (tmp_path / "dkim.pem").read_text().replace("\n", "\\n")  # one env line
    send_one()
    assert dkim.verify(smtp_server.messages[0][1], dnsfunc=dkim_dns)


def test_no_signature_without_a_key(smtp_settings, smtp_server):
    smtp_settings.DKIM_PRIVATE_KEY = ""
    send_one()
    assert "DKIM-Signature" not in smtp_server.parsed()[0]
