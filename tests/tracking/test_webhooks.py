"""Provider webhooks through anymail: real payload shapes (Mailgun, Postmark, Amazon SES).

Payload shapes follow the providers' documented webhook bodies (as anymail's own tests
use them), with our recipient's Message-ID or token in them.
"""

import base64
import hashlib
import hmac
import json

import pytest
from django.test import Client

from campaigns.models import CampaignRecipient, Suppression
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status
SECRET = "hooks:s3cret-pass"
SIGNING_KEY = "mailgun-signing-key"
MESSAGE_ID = "20261126.abc123@mail.fliptech.example"  # sent_recipient's, without brackets


@pytest.fixture(autouse=True)
def anymail_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


def auth(secret=SECRET):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


# --- Mailgun ---------------------------------------------------------------------------


def mailgun(event_data, token="651869375b9df3c98fc15c4889b102119add1235c38fc92824"):
    timestamp = str(int(event_data.get("timestamp", 1764150000)))
    signature = hmac.new(SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data}
    )


def mailgun_event(event, recipient, **extra):
    return {
        "event": event,
        "timestamp": 1764150000.153125,
        "id": "hTWCTD81RtiDN-abc",
        "recipient": recipient.email_address,
        "recipient-domain": recipient.email_address.split("@")[1],
        "tags": [],
        "user-variables": {},
        "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False, "is-test-mode": False},
        "log-level": "info",
        "message": {
            "headers": {
                "to": recipient.email_address,
                "message-id": MESSAGE_ID,
                "from": "offers@fliptech.example",
                "subject": "An offer",
            },
            "attachments": [],
            "size": 809,
        },
        **extra,
    }


def post_mailgun(body, **headers):
    return Client(enforce_csrf_checks=True).post(
        "/anymail/mailgun/tracking/", data=body, content_type="application/json", **headers
    )


def test_mailgun_permanent_failure_is_a_hard_bounce(sent_recipient):
    body = mailgun(
        mailgun_event(
            "failed",
            sent_recipient,
            severity="permanent",
            reason="bounce",
            **{"log-level": "error"},
            **{
                "delivery-status": {
                    "tls": True,
                    "mx-host": "aspmx.l.example.org",
                    "attempt-no": 1,
                    "description": "",
                    "session-seconds": 2.95,
                    "utf8": True,
                    "code": 550,
                    "message": "5.1.1 The email account that you tried to reach does not exist.",
                    "certificate-verified": True,
                }
            },
        )
    )
    response = post_mailgun(body, **auth())
    assert response.status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.BOUNCED
    event = EmailTracking.objects.get()
    assert event.event_type == "bounce" and event.event_data["bounce_type"] == "hard"
    assert "does not exist" in event.event_data["reason"]
    assert Suppression.objects.get().reason == "hard_bounce"


def test_mailgun_temporary_failure_is_a_soft_bounce(sent_recipient):
    body = mailgun(
        mailgun_event(
            "failed",
            sent_recipient,
            severity="temporary",
            reason="generic",
            **{
                "delivery-status": {
                    "attempt-no": 3,
                    "description": "No MX",
                    "code": 498,
                    "message": "No MX",
                    "retry-seconds": 1800,
                }
            },
        )
    )
    assert post_mailgun(body, **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.SENT
    assert EmailTracking.objects.get().event_data["bounce_type"] == "soft"
    assert not Suppression.objects.exists()


def test_mailgun_replayed_event_changes_nothing(sent_recipient):
    body = mailgun(mailgun_event("opened", sent_recipient, **{"client-info": {"user-agent": "x"}}))
    assert post_mailgun(body, **auth()).status_code == 200
    assert post_mailgun(body, **auth()).status_code == 200
    assert EmailTracking.objects.count() == 1
    sent_recipient.refresh_from_db()
    assert sent_recipient.open_count + sent_recipient.machine_open_count == 1


def test_mailgun_delivered_after_bounce_leaves_recipient_bounced(sent_recipient):
    post_mailgun(
        mailgun(mailgun_event("failed", sent_recipient, severity="permanent", reason="bounce"), token="t1"), **auth()
    )
    response = post_mailgun(mailgun(mailgun_event("delivered", sent_recipient), token="t2"), **auth())
    assert response.status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.BOUNCED and sent_recipient.delivered_at is not None


def test_mailgun_without_basic_auth_is_refused(sent_recipient):
    body = mailgun(mailgun_event("complained", sent_recipient))
    assert post_mailgun(body).status_code == 400
    assert post_mailgun(body, **auth("hooks:wrong")).status_code == 400
    assert not EmailTracking.objects.exists() and not Suppression.objects.exists()


def test_mailgun_complaint_suppresses(sent_recipient):
    assert post_mailgun(mailgun(mailgun_event("complained", sent_recipient)), **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.complained_at is not None
    assert Suppression.objects.get().reason == "complaint"


def test_unknown_message_is_accepted_and_ignored(sent_recipient):
    event = mailgun_event("delivered", sent_recipient)
    event["message"]["headers"]["message-id"] = "someone-elses@example.org"
    assert post_mailgun(mailgun(event), **auth()).status_code == 200
    assert not EmailTracking.objects.exists()


# --- Postmark --------------------------------------------------------------------------


def post_postmark(payload, **headers):
    return Client(enforce_csrf_checks=True).post(
        "/anymail/postmark/tracking/", data=json.dumps(payload), content_type="application/json", **headers
    )


def test_postmark_hard_bounce_found_by_metadata_token(sent_recipient):
    payload = {
        "RecordType": "Bounce",
        "ID": 901542550,
        "Type": "HardBounce",
        "TypeCode": 1,
        "ServerID": 23,
        "Name": "Hard bounce",
        "MessageID": "2706ee8a-737c-4285-b032-ccd317af53ed",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": sent_recipient.email_address,
        "From": "offers@fliptech.example",
        "BouncedAt": "2026-11-26T16:28:50.3963933-04:00",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "An offer",
        "Metadata": {"token": sent_recipient.token},
    }
    assert post_postmark(payload, **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.BOUNCED
    assert Suppression.objects.filter(email=sent_recipient.email_address).exists()
    # replay: same Postmark ID
    assert post_postmark(payload, **auth()).status_code == 200
    assert EmailTracking.objects.count() == 1


def test_postmark_open_and_click_found_by_stored_provider_message_id(sent_recipient, link):
    sent_recipient.message_id = "f4830d10-9c35-4f0c-bca3-3d9b459821f8"
    sent_recipient.save()
    base = {"MessageID": sent_recipient.message_id, "Recipient": sent_recipient.email_address, "Geo": {}}
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 Chrome/120 Safari/537.36"
    open_payload = {
        **base,
        "RecordType": "Open",
        "FirstOpen": True,
        "Platform": "Desktop",
        "UserAgent": ua,
        "Client": {"Name": "Chrome", "Company": "Google", "Family": "Chrome"},
        "ReadSeconds": 5,
        "ReceivedAt": "2026-11-26T16:21:41.2493688-04:00",
    }
    click_payload = {
        **base,
        "RecordType": "Click",
        "ClickLocation": "HTML",
        "Platform": "Desktop",
        "UserAgent": ua,
        "OriginalLink": link.url,
        "ReceivedAt": "2026-11-26T16:25:11.9065619Z",
    }
    assert post_postmark(open_payload, **auth()).status_code == 200
    assert post_postmark(click_payload, **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.opened_at is not None and sent_recipient.clicked_at is not None
    assert EmailTracking.objects.get(event_type="click").url == link.url


def test_postmark_unsubscribe(sent_recipient):
    payload = {
        "RecordType": "SubscriptionChange",
        "MessageID": "a4909a96-73d7-4c49-b148-a54522d3f7ac",
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2026-11-26T17:17:32Z",
        "Recipient": sent_recipient.email_address,
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Metadata": {"recipient_token": sent_recipient.token},
    }
    assert post_postmark(payload, **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.UNSUBSCRIBED
    assert Suppression.objects.get().reason == "unsubscribed"


def test_postmark_with_wrong_auth_is_refused(sent_recipient):
    payload = {
        "RecordType": "Delivery",
        "MessageID": "x",
        "Recipient": sent_recipient.email_address,
        "Metadata": {"token": sent_recipient.token},
        "DeliveredAt": "2026-11-26T13:28:10Z",
    }
    assert post_postmark(payload).status_code == 400
    assert post_postmark(payload, **auth("hooks:nope")).status_code == 400
    assert not EmailTracking.objects.exists()


# --- Amazon SES (SNS notifications) ------------------------------------------------------


def ses_notification(ses_event, sns_id="19ba9823-d7f2-53c1-860e-cb10e0d13dfc"):
    return {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": "arn:aws:sns:us-east-1:111111111111:SES_Tracking",
        "Message": json.dumps(ses_event),
        "Timestamp": "2026-11-26T03:31:59.123Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE...",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=EXAMPLE",
    }


def ses_mail(recipient):
    return {
        "timestamp": "2026-11-26T03:31:57.000Z",
        "source": "offers@fliptech.example",
        "sourceArn": "arn:aws:ses:us-east-1:111111111111:identity/fliptech.example",
        "sendingAccountId": "111111111111",
        "messageId": "0100017e2a5a6c1d-ses-own-id-000000",
        "destination": [recipient.email_address],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "offers@fliptech.example"},
            {"name": "To", "value": recipient.email_address},
            {"name": "Message-ID", "value": f"<{MESSAGE_ID}>"},
        ],
        "commonHeaders": {
            "from": ["offers@fliptech.example"],
            "to": [recipient.email_address],
            "messageId": f"<{MESSAGE_ID}>",
            "subject": "An offer",
        },
        "tags": {"ses:configuration-set": ["tracking"]},
    }


def post_ses(notification, **headers):
    return Client(enforce_csrf_checks=True).post(
        "/anymail/amazon_ses/tracking/",
        data=json.dumps(notification),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=notification["Type"],
        HTTP_X_AMZ_SNS_MESSAGE_ID=notification["MessageId"],
        **headers,
    )


def test_ses_permanent_bounce_found_by_message_id_header(sent_recipient):
    event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": sent_recipient.email_address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-26T03:31:58.502Z",
            "feedbackId": "0100017e2a5a7-bounce-feedback",
            "reportingMTA": "dsn; a8-30.smtp-out.amazonses.com",
        },
        "mail": ses_mail(sent_recipient),
    }
    assert post_ses(ses_notification(event), **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.BOUNCED
    assert EmailTracking.objects.get().event_data["reason"] == "smtp; 550 5.1.1 user unknown"


def test_ses_transient_bounce_is_soft(sent_recipient):
    event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Transient",
            "bounceSubType": "MailboxFull",
            "bouncedRecipients": [{"emailAddress": sent_recipient.email_address}],
            "timestamp": "2026-11-26T03:31:58.502Z",
            "feedbackId": "x",
        },
        "mail": ses_mail(sent_recipient),
    }
    assert post_ses(ses_notification(event), **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.SENT and not Suppression.objects.exists()


def test_ses_complaint_and_delivery(sent_recipient):
    complaint = {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": sent_recipient.email_address}],
            "timestamp": "2026-11-26T04:00:00.000Z",
            "feedbackId": "f",
            "complaintFeedbackType": "abuse",
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
        },
        "mail": ses_mail(sent_recipient),
    }
    delivery = {
        "eventType": "Delivery",
        "delivery": {
            "timestamp": "2026-11-26T03:31:59.000Z",
            "processingTimeMillis": 1500,
            "recipients": [sent_recipient.email_address],
            "smtpResponse": "250 ok",
            "reportingMTA": "a8-30.smtp-out.amazonses.com",
        },
        "mail": ses_mail(sent_recipient),
    }
    assert post_ses(ses_notification(delivery, sns_id="sns-1"), **auth()).status_code == 200
    assert post_ses(ses_notification(complaint, sns_id="sns-2"), **auth()).status_code == 200
    sent_recipient.refresh_from_db()
    assert sent_recipient.delivered_at is not None and sent_recipient.complained_at is not None
    assert Suppression.objects.get().reason == "complaint"


def test_ses_without_auth_gets_401_challenge_then_wrong_auth_400(sent_recipient):
    event = {
        "eventType": "Delivery",
        "delivery": {"recipients": [sent_recipient.email_address]},
        "mail": ses_mail(sent_recipient),
    }
    response = post_ses(ses_notification(event))
    assert response.status_code == 401 and "Basic" in response["WWW-Authenticate"]
    assert post_ses(ses_notification(event), **auth("hooks:wrong")).status_code == 400
    assert not EmailTracking.objects.exists()


# --- the secret is required outside DEBUG -----------------------------------------------


def test_webhooks_refused_without_secret_outside_debug(settings, sent_recipient):
    settings.DEBUG = False
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    response = post_mailgun(mailgun(mailgun_event("complained", sent_recipient)))
    assert response.status_code == 403
    assert not Suppression.objects.exists()


def test_webhooks_work_without_secret_in_debug(settings, sent_recipient):
    settings.DEBUG = True
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    response = post_mailgun(mailgun(mailgun_event("delivered", sent_recipient)))
    assert response.status_code == 200
    assert EmailTracking.objects.get().event_type == "delivered"


# --- Bodies that are not the provider's shape: 400, never a 500 -------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/anymail/postmark/tracking/", b"{"),
        ("/anymail/postmark/tracking/", b"\xff\xfe"),
        ("/anymail/postmark/tracking/", b"[]"),
        ("/anymail/sendgrid/tracking/", b"[{}]"),
        ("/anymail/sparkpost/tracking/", b"1"),
        ("/anymail/amazon_ses/tracking/", b'{"Type": "Notification", "Message": "x"}'),
    ],
    ids=["invalid-json", "invalid-utf8", "list", "sendgrid-empty-event", "sparkpost-number", "ses-unknown-type"],
)
def test_unreadable_webhook_body_is_400_and_records_nothing(sent_recipient, path, body):
    response = Client().post(path, data=body, content_type="application/json", **auth())
    assert response.status_code == 400
    assert not EmailTracking.objects.exists()


def test_webhook_of_a_provider_not_configured_here_is_404(settings, sent_recipient):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}  # no MAILGUN_WEBHOOK_SIGNING_KEY
    response = post_mailgun(mailgun(mailgun_event("delivered", sent_recipient)), **auth())
    assert response.status_code == 404
    assert not EmailTracking.objects.exists()


def test_webhook_of_a_provider_that_checks_its_key_late_is_404_when_not_configured(sent_recipient):
    # Mandrill looks for its webhook key only when a POST is validated.
    response = Client().post("/anymail/mandrill/tracking/", data={"mandrill_events": "[]"}, **auth())
    assert response.status_code == 404


def test_payload_of_another_kind_of_webhook_is_400(sent_recipient):
    # Postmark's own check: a bounce event posted to the inbound URL.
    response = Client().post(
        "/anymail/postmark/inbound/", data=b'{"RecordType": "Bounce"}', content_type="application/json", **auth()
    )
    assert response.status_code == 400
