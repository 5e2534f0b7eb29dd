"""Every ESP anymail supports for tracking finds our recipient in its webhooks, with the ids
the stack really stored and the custom data the message really carried.

Over an SMTP relay the message goes through the real SMTP sink playing the relay: it answers
the final dot like the provider ("250 Ok: queued as <id>"), so the provider's id is the one
the sender stored, and the custom-data header is read back from the message the sink got.
Over an API backend the real anymail backend posts to a local HTTP server answering like the
provider. The webhook bodies are the shapes of anymail's own tests (django-anymail
tests/test_<esp>_webhooks.py), posted to the real anymail webhook URLs.
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignRecipient, Lead, Suppression
from tests.factories import CampaignFactory, EmailTemplateFactory
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db
R = CampaignRecipient.Status
SECRET = "hooks:s3cret-pass"
ADDRESS = "lead@example.net"
KEYS = {
    "WEBHOOK_SECRET": SECRET,
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-signing-key",
    "MANDRILL_WEBHOOK_KEY": "mandrill-key",
    "MANDRILL_WEBHOOK_URL": "https://mail.example.com/anymail/mandrill/tracking/",
    "MAILERSEND_SIGNING_SECRET": "mailersend-secret",
    "UNISENDER_GO_API_KEY": "unisender-key",
}


@pytest.fixture(autouse=True)
def anymail_keys(settings):
    settings.ANYMAIL = dict(KEYS)


def auth():
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}


def post(esp, body, content_type="application/json", **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return Client().post(f"/anymail/{esp}/tracking/", data=data, content_type=content_type, **auth(), **headers)


def one_recipient_campaign():
    campaign = CampaignFactory(
        template=EmailTemplateFactory(),
        status=Campaign.Status.RUNNING,
        started_at=timezone.now(),
        from_email="news@fliptech.example",
    )
    lead = Lead.objects.create(email=ADDRESS)
    CampaignRecipient.objects.create(campaign=campaign, lead=lead, email_address=ADDRESS)
    return campaign


@pytest.fixture
def relay(smtp_settings, smtp_server):
    """`relay(esp)` sends one campaign message through the sink playing that ESP's SMTP relay;
    returns the recipient as stored and the message as the relay got it."""

    def send(esp, answer=None):
        smtp_settings.EMAIL_RELAY = esp
        queue_id = secrets.token_hex(12)
        smtp_server.accept_reply = answer(queue_id) if answer else f"250 2.0.0 Ok: queued as {queue_id}"
        campaign = one_recipient_campaign()
        assert sending.send_batch(campaign.pk).sent == 1
        recipient = CampaignRecipient.objects.select_related("campaign").get(campaign=campaign)
        assert recipient.provider_message_id and smtp_server.accept_reply.endswith(recipient.provider_message_id)
        return recipient, smtp_server.parsed()[-1]

    return send


def assert_hard_bounce(recipient):
    recipient.refresh_from_db()
    assert recipient.status == R.BOUNCED
    assert Suppression.objects.get(email=ADDRESS).reason == "hard_bounce"
    assert (
        EmailTracking.objects.get(campaign_recipient=recipient, event_type="bounce").event_data["bounce_type"] == "hard"
    )


def assert_complaint(recipient):
    recipient.refresh_from_db()
    assert recipient.complained_at is not None
    assert Suppression.objects.get(email=ADDRESS).reason == "complaint"


def token_metadata(recipient):
    return {"token": recipient.token, "campaign_id": recipient.campaign.campaign_id}


# --- SMTP relays -----------------------------------------------------------------------------


def test_sendgrid_spam_report_found_by_the_x_smtpapi_unique_args(relay):
    recipient, message = relay("sendgrid")
    unique_args = json.loads(message["X-SMTPAPI"])["unique_args"]
    assert unique_args == token_metadata(recipient)
    # SendGrid's spamreport event has no smtp-id; unique_args are merged into the event.
    event = {"email": ADDRESS, "timestamp": 1764150000, "event": "spamreport", "sg_event_id": "c3BhbXJlcG9ydA"}
    event["sg_message_id"] = "unrelated.filter0001"
    assert post("sendgrid", [{**event, **unique_args}]).status_code == 200
    assert_complaint(recipient)


def test_sendgrid_bounce_found_by_the_id_its_relay_answered(relay):
    recipient, _ = relay("sendgrid")
    event = {
        "ip": "167.89.17.173",
        "status": "5.1.1",
        "sg_event_id": "lC0Rc-FuQmKbnxCWxX1jRQ",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "sg_message_id": f"{recipient.provider_message_id}.filter0077p1las1.21536.5717FC482.0",
        "tls": 1,
        "event": "bounce",
        "email": ADDRESS,
        "timestamp": 1461095250,
        "type": "bounce",
    }
    assert post("sendgrid", [event]).status_code == 200
    assert_hard_bounce(recipient)


def test_mailgun_bounce_found_by_x_mailgun_variables(relay):
    recipient, message = relay("mailgun")
    variables = json.loads(message["X-Mailgun-Variables"])
    event = {
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce",
        "timestamp": 1764150000.153125,
        "id": "hTWCTD81RtiDN-relay",
        "recipient": ADDRESS,
        "user-variables": variables,
        "message": {"headers": {"to": ADDRESS, "message-id": "someone-else@example.org"}},
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist."},
    }
    token = "651869375b9df3c98fc15c4889b102119add1235c38fc92824"
    signature = hmac.new(KEYS["MAILGUN_WEBHOOK_SIGNING_KEY"].encode(), f"1764150000{token}".encode(), hashlib.sha256)
    body = {"signature": {"timestamp": "1764150000", "token": token, "signature": signature.hexdigest()}}
    assert post("mailgun", {**body, "event-data": event}).status_code == 200
    assert_hard_bounce(recipient)


@pytest.mark.parametrize("by", ["metadata", "message_id"])
def test_postmark_bounce_found_by_x_pm_metadata_or_its_message_id(relay, by):
    recipient, message = relay("postmark")
    metadata = {name[len("X-PM-Metadata-") :]: value for name, value in message.items() if name.startswith("X-PM-")}
    assert metadata == token_metadata(recipient)
    payload = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": recipient.provider_message_id if by == "message_id" else "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": ADDRESS,
        "BouncedAt": "2026-11-26T13:28:10Z",
        "Metadata": metadata if by == "metadata" else {},
        "MessageStream": "outbound",
    }
    assert post("postmark", payload).status_code == 200
    assert_hard_bounce(recipient)


def test_mailjet_bounce_found_by_x_mj_eventpayload(relay):
    recipient, message = relay("mailjet")
    event = {
        "event": "bounce",
        "time": 1498093527,
        "MessageID": 12345678901234567,
        "email": ADDRESS,
        "mj_campaign_id": 1234567890,
        "mj_contact_id": 9876543210,
        "customcampaign": "",
        "blocked": False,
        "hard_bounce": True,
        "error_related_to": "recipient",
        "error": "user unknown",
        "Payload": message["X-MJ-EventPayload"],
    }
    assert post("mailjet", [event]).status_code == 200
    assert_hard_bounce(recipient)


def test_mandrill_bounce_found_by_x_mc_metadata(relay):
    recipient, message = relay("mandrill")
    event = {
        "event": "hard_bounce",
        "msg": {
            "ts": 1461095211,
            "subject": "Webhook Test",
            "email": ADDRESS,
            "sender": "news@fliptech.example",
            "bounce_description": "bad_mailbox",
            "diag": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "_id": "abcdef012345789abcdef012345789",
            "metadata": json.loads(message["X-MC-Metadata"]),
        },
        "_id": "abcdef012345789abcdef012345789",
        "ts": 1461095246,
    }
    params = {"mandrill_events": json.dumps([event])}
    signed = KEYS["MANDRILL_WEBHOOK_URL"] + "".join(k + v for k, v in sorted(params.items()))
    signature = base64.b64encode(
        hmac.new(KEYS["MANDRILL_WEBHOOK_KEY"].encode(), signed.encode(), hashlib.sha1).digest()
    )
    answer = post(
        "mandrill",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_MANDRILL_SIGNATURE=signature.decode(),
    )
    assert answer.status_code == 200
    assert_hard_bounce(recipient)


def test_sparkpost_bounce_found_by_x_msys_api_metadata(relay):
    recipient, message = relay("sparkpost")
    event = {
        "type": "bounce",
        "bounce_class": "10",
        "customer_id": "00000",
        "error_code": "550",
        "event_id": "84345317653491230",
        "message_id": "0004e3724f57753a3561",
        "raw_rcpt_to": ADDRESS,
        "raw_reason": f"550 5.1.1 <{ADDRESS}>: Recipient address rejected: User unknown",
        "rcpt_to": ADDRESS,
        "rcpt_meta": json.loads(message["X-MSYS-API"])["metadata"],
        "timestamp": "1464824548",
        "transmission_id": "84345317650824116",
    }
    assert post("sparkpost", [{"msys": {"message_event": event}, "cust": {"id": "00000"}}]).status_code == 200
    assert_hard_bounce(recipient)


def test_brevo_bounce_found_by_x_mailin_custom(relay):
    recipient, message = relay("brevo")
    event = {
        "event": "hard_bounce",
        "email": ADDRESS,
        "ts_epoch": 1520363423000,
        "message-id": "<201803011158.9876543210@smtp-relay.mailin.fr>",
        "reason": " RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable.",
        "X-Mailin-custom": message["X-Mailin-custom"],
    }
    assert post("brevo", event).status_code == 200
    assert_hard_bounce(recipient)


def test_mailtrap_bounce_found_by_x_mt_custom_variables(relay):
    recipient, message = relay("mailtrap")
    event = {
        "event": "bounce",
        "message_id": "1df37d17-0286-4d8b-8edf-bc4ec5be86e6",
        "sending_stream": "bulk",
        "email": ADDRESS,
        "timestamp": 1726358034,
        "event_id": "bcd8ff38-4d2b-4f8b-9ea6-6e8a4d3f1e00",
        "response": "5.1.1 <lead@example.net>: Recipient address rejected: User unknown",
        "response_code": 550,
        "bounce_category": "badmailbox",
        "custom_variables": json.loads(message["X-MT-Custom-Variables"]),
    }
    assert post("mailtrap", {"events": [event]}).status_code == 200
    assert_hard_bounce(recipient)


def test_amazon_ses_bounce_found_by_the_id_its_relay_answered(relay):
    recipient, message = relay(
        "amazon_ses", answer=lambda _: f"250 Ok 0100018c{secrets.token_hex(4)}-{uuid.uuid4()}-000000"
    )
    assert json.loads(message["X-Metadata"]) == token_metadata(recipient)
    mail = {
        "timestamp": "2026-11-26T03:31:57.000Z",
        "source": "news@fliptech.example",
        "messageId": recipient.provider_message_id,
        "destination": [ADDRESS],
        "headersTruncated": False,
        "headers": [{"name": "From", "value": "news@fliptech.example"}, {"name": "To", "value": ADDRESS}],
        "commonHeaders": {"from": ["news@fliptech.example"], "to": [ADDRESS], "subject": "An offer"},
    }
    bounce = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {"emailAddress": ADDRESS, "action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1"}
        ],
        "timestamp": "2026-11-26T03:31:58.502Z",
        "feedbackId": "0100017e2a5a7-bounce-feedback",
    }
    notification = {
        "Type": "Notification",
        "MessageId": "19ba9823-d7f2-53c1-860e-cb10e0d13dfc",
        "TopicArn": "arn:aws:sns:us-east-1:111111111111:SES_Tracking",
        "Message": json.dumps({"eventType": "Bounce", "bounce": bounce, "mail": mail}),
        "Timestamp": "2026-11-26T03:31:59.123Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE...",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
    }
    answer = post(
        "amazon_ses",
        notification,
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        HTTP_X_AMZ_SNS_MESSAGE_ID=notification["MessageId"],
    )
    assert answer.status_code == 200
    assert_hard_bounce(recipient)


def mailersend_post(event):
    data = json.dumps(event).replace("/", "\\/").encode()
    signature = hmac.new(KEYS["MAILERSEND_SIGNING_SECRET"].encode(), data, hashlib.sha256).hexdigest()
    return post("mailersend", data, HTTP_SIGNATURE=signature)


def mailersend_activity(kind, recipient, morph):
    return {
        "type": f"activity.{kind}",
        "data": {
            "id": secrets.token_hex(12),
            "type": kind,
            "created_at": "2026-11-26T21:48:13.593000Z",
            "email": {
                "status": "rejected",
                "message": {"id": recipient.provider_message_id},
                "recipient": {"email": ADDRESS},
            },
            "morph": morph,
        },
    }


def test_mailersend_hard_bounce_and_complaint_found_by_the_id_its_relay_answered(relay):
    recipient, _ = relay("mailersend", answer=lambda queue_id: f"250 Message queued as {queue_id}")
    complaint = mailersend_activity("spam_complaint", recipient, {"object": "spam_complaint", "reason": None})
    assert mailersend_post(complaint).status_code == 200
    assert_complaint(recipient)
    bounce = {"object": "recipient_bounce", "reason": "Host or domain name not found"}
    assert mailersend_post(mailersend_activity("hard_bounced", recipient, bounce)).status_code == 200
    recipient.refresh_from_db()
    assert recipient.status == R.BOUNCED


def test_mailersend_soft_bounce_is_soft(relay):
    recipient, _ = relay("mailersend", answer=lambda queue_id: f"250 Message queued as {queue_id}")
    bounce = {"object": "recipient_bounce", "reason": "Unknown reason"}
    assert mailersend_post(mailersend_activity("soft_bounced", recipient, bounce)).status_code == 200
    recipient.refresh_from_db()
    assert recipient.status == R.SENT and not Suppression.objects.exists()
    assert EmailTracking.objects.get(event_type="bounce").event_data["bounce_type"] == "soft"


def test_no_relay_no_custom_data_header(relay, smtp_settings):
    _, message = relay("")  # EMAIL_HOST 127.0.0.1: no ESP
    assert not [name for name in message.keys() if name.startswith(("X-SMTPAPI", "X-PM-", "X-Mailgun", "X-MJ-"))]


# --- API backends ----------------------------------------------------------------------------


class FakeESP:
    """A local HTTP server answering every POST with `reply` (JSON); keeps the bodies."""

    def __init__(self, reply):
        self.reply, self.bodies = reply, []
        esp = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                esp.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                body = json.dumps(esp.reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api_backend(settings):
    """`api_backend(esp, reply, **keys)` sends one campaign message through anymail's `esp`
    backend to a local server answering `reply`; returns the stored recipient and the body
    the backend posted."""
    servers = []

    def send(esp, reply, **keys):
        server = FakeESP(reply)
        servers.append(server)
        settings.EMAIL_BACKEND = f"anymail.backends.{esp}.EmailBackend"
        settings.ANYMAIL = {**KEYS, f"{esp.upper()}_API_URL": server.url, **keys}
        campaign = one_recipient_campaign()
        assert sending.send_batch(campaign.pk).sent == 1
        recipient = CampaignRecipient.objects.select_related("campaign").get(campaign=campaign)
        return recipient, server.bodies[-1]

    yield send
    for server in servers:
        server.close()


def test_resend_bounce_without_headers_found_by_its_email_id(api_backend):
    email_id = "aaaaaaaa-bbbb-cccc-dddd-" + secrets.token_hex(6)
    recipient, _ = api_backend("resend", {"id": email_id}, RESEND_API_KEY="re_test")
    assert recipient.provider_message_id == email_id
    event = {
        "created_at": "2026-10-02T18:11:26.101Z",
        "data": {
            "bounce": {"message": "The recipient's email provider sent a hard bounce message."},
            "created_at": "2026-10-02T18:11:25.729Z",
            "email_id": email_id,
            "from": "Sender <news@fliptech.example>",
            "subject": "Sending test",
            "to": [ADDRESS],
        },
        "type": "email.bounced",
    }
    assert post("resend", event).status_code == 200
    assert_hard_bounce(recipient)


def test_unisender_go_bounce_found_by_the_metadata_it_echoes(api_backend):
    reply = {"status": "success", "job_id": "1ZymBc-00041N-9X", "emails": [ADDRESS], "failed_emails": {}}
    recipient, sent = api_backend("unisender_go", reply)
    message = sent.get("message", sent)
    metadata = {**message.get("global_metadata", {}), **message["recipients"][0].get("metadata", {})}
    assert metadata["token"] == recipient.token
    assert recipient.provider_message_id == metadata["anymail_id"]
    event = {
        "event_name": "transactional_email_status",
        "event_data": {
            "job_id": "1ZymBc-00041N-9X",
            "metadata": metadata,
            "email": ADDRESS,
            "status": "hard_bounced",
            "event_time": "2026-11-26 11:40:27",
            "delivery_info": {
                "delivery_status": "err_user_unknown",
                "destination_response": "550 5.1.1 Spamassassin: user unknown",
            },
        },
    }
    body = {"auth": "x" * 32, "events_by_user": [{"user_id": 456, "project_id": "6432890213745872", "events": [event]}]}
    raw = json.dumps(body)
    raw = raw.replace("x" * 32, hashlib.md5(raw.replace("x" * 32, KEYS["UNISENDER_GO_API_KEY"]).encode()).hexdigest())
    assert post("unisender_go", raw).status_code == 200
    assert_hard_bounce(recipient)


def test_postal_bounce_found_by_the_message_id_it_keeps(relay, settings):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    settings.ANYMAIL = {**KEYS, "POSTAL_WEBHOOK_KEY": "\n".join(public.decode().strip().splitlines()[1:-1])}
    recipient, message = relay("postal")
    assert not [name for name in message.keys() if name.startswith("X-") and name != "X-Campaign-ID"]
    event = {
        "event": "MessageBounced",
        "timestamp": 1606753101.961181,
        "payload": {
            "original_message": {
                "id": 233843,
                "token": "McC2tuqg7mhx",
                "direction": "outgoing",
                "message_id": recipient.message_id.strip("<>"),
                "to": ADDRESS,
                "from": "news@fliptech.example",
                "subject": "...",
                "timestamp": 1606436187.8883688,
                "spam_status": "NotChecked",
                "tag": None,
            },
            "bounce": {
                "id": 233864,
                "token": "nII5p0Cp8onV",
                "direction": "incoming",
                "message_id": "E1kiRR8-0001ay-Iq@example.com",
                "to": "bk87jw@psrp.postal.example.com",
                "from": None,
                "subject": "Mail delivery failed: returning message to sender",
                "timestamp": 1606436523.6060522,
                "spam_status": "NotChecked",
                "tag": None,
            },
            "details": "550 5.1.1 user unknown",
            "output": "550 5.1.1 user unknown",
            "sent_with_ssl": None,
            "timestamp": 1606753101.9110143,
            "time": None,
        },
        "uuid": "0fcc831f-92b9-4e2b-97f2-d873abc77fab",
    }
    body = json.dumps(event).encode()
    signature = base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA1())).decode()
    assert post("postal", body, HTTP_X_POSTAL_SIGNATURE=signature).status_code == 200
    assert_hard_bounce(recipient)
