"""Replies through django-anymail's inbound webhooks, in the real payload shapes of Postmark,
Mailgun, SendGrid and Amazon SES (as anymail's own tests post them), with and without the
webhook secret: stored before the 2xx, once per Message-ID, matched by In-Reply-To /
References or the reply address, the sequence stopped; bad input never a 500."""

import hashlib
import hmac
import json
from textwrap import dedent

import pytest
from django.test import Client

from campaigns.models import CampaignRecipient, RecipientMessage
from tests.replies.conftest import FIRST_ID, SIGNING_KEY, STEP1_ID, auth
from tracking.models import EmailTracking, Reply

pytestmark = pytest.mark.django_db
QUOTED = (
    "Yes, send me the price list.\n\nOn Mon, Nov 30, 2026 at 9:00 AM FlipTech <news@fliptech.example> wrote:\n> Hello"
)


def postmark_payload(in_reply_to=STEP1_ID, message_id="<CAEPk3R+4Zr@mail.shop.example>", stripped=True, **headers):
    payload = {
        "FromFull": {"Email": "owner@shop.example", "Name": "Shop Owner", "MailboxHash": ""},
        "ToFull": [{"Email": "news@fliptech.example", "Name": "", "MailboxHash": ""}],
        "OriginalRecipient": "news@fliptech.example",
        "Subject": "Re: An offer",
        "MessageID": "22c74902-a0c1-4511-804f2-341342852c90",
        "Date": "Mon, 30 Nov 2026 18:31:04 -0700",
        "TextBody": QUOTED,
        "HtmlBody": "<div>Yes, send me the price list.</div>",
        "Headers": [
            {"Name": "Return-Path", "Value": "<owner@shop.example>"},
            {"Name": "MIME-Version", "Value": "1.0"},
            {"Name": "Message-ID", "Value": message_id},
            {"Name": "In-Reply-To", "Value": in_reply_to},
            {"Name": "References", "Value": f"{FIRST_ID} {in_reply_to}"},
            *({"Name": k, "Value": v} for k, v in headers.items()),
        ],
    }
    if stripped:
        payload["StrippedTextReply"] = "Yes, send me the price list."
    return payload


def post_postmark(payload, **headers):
    return Client(enforce_csrf_checks=True).post(
        "/anymail/postmark/inbound/", data=json.dumps(payload), content_type="application/json", **headers
    )


def assert_reply_recorded(recipient, step, text="Yes, send me the price list."):
    reply = Reply.objects.get()
    assert (reply.recipient_id, reply.step, reply.kind, reply.text) == (recipient.pk, step, "reply", text)
    event = EmailTracking.objects.get(event_type="reply")
    assert event.event_data["text"] == text and event.event_data["step"] == step
    assert set(event.event_data) >= {"from", "subject", "text", "received_at"}
    recipient.refresh_from_db()
    assert recipient.replied_at is not None
    assert (recipient.sequence_status, recipient.stop_reason) == ("stopped", "replied")
    assert recipient.lead.__class__.objects.get(pk=recipient.lead_id).last_replied_at is not None
    assert RecipientMessage.objects.get(recipient=recipient, position=2).status == "cancelled"


def test_postmark_reply_to_a_follow_up_is_stored_and_stops_the_sequence(in_sequence):
    recipient, _, _ = in_sequence
    assert post_postmark(postmark_payload(), **auth()).status_code == 200
    assert_reply_recorded(recipient, step=1)


def test_postmark_without_or_with_a_wrong_secret_is_refused_and_stores_nothing(in_sequence):
    assert post_postmark(postmark_payload()).status_code == 400
    assert post_postmark(postmark_payload(), **auth("hooks:wrong")).status_code == 400
    assert not Reply.objects.exists() and not EmailTracking.objects.exists()


def test_the_same_message_posted_twice_is_stored_once(in_sequence):
    recipient, _, _ = in_sequence
    for _ in range(2):
        assert post_postmark(postmark_payload(), **auth()).status_code == 200
    assert Reply.objects.count() == 1 and EmailTracking.objects.filter(event_type="reply").count() == 1
    assert CampaignRecipient.objects.get(pk=recipient.pk).campaign.counters.exists()


def test_without_stripped_text_the_quote_is_cut_by_email_reply_parser(in_sequence):
    recipient, _, _ = in_sequence
    assert post_postmark(postmark_payload(stripped=False), **auth()).status_code == 200
    assert_reply_recorded(recipient, step=1)


def test_a_reply_to_the_first_message_counts_for_step_0_through_references(in_sequence):
    recipient, _, _ = in_sequence
    payload = postmark_payload(in_reply_to="<unknown@elsewhere.example>")
    payload["Headers"][-1] = {"Name": "References", "Value": f"{FIRST_ID} <unknown@elsewhere.example>"}
    assert post_postmark(payload, **auth()).status_code == 200
    assert_reply_recorded(recipient, step=0)


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Out of office"},
        {"Precedence": "auto_reply"},
        {"Precedence": "bulk"},
    ],
)
def test_an_automatic_reply_is_an_auto_reply_event_and_stops_nothing(in_sequence, headers):
    recipient, _, step2 = in_sequence
    assert post_postmark(postmark_payload(**headers), **auth()).status_code == 200
    assert EmailTracking.objects.get().event_type == "auto_reply"
    assert Reply.objects.get().kind == "auto_reply"
    recipient.refresh_from_db()
    assert recipient.replied_at is None and recipient.sequence_status == "active"
    step2.refresh_from_db()
    assert step2.status == "pending"


def test_an_out_of_office_subject_is_an_auto_reply(in_sequence):
    payload = postmark_payload()
    payload["Subject"] = "Out of Office: back on Monday"
    assert post_postmark(payload, **auth()).status_code == 200
    assert EmailTracking.objects.get().event_type == "auto_reply"


def test_a_reply_to_a_message_we_never_sent_changes_nothing(in_sequence):
    payload = postmark_payload(in_reply_to="<never-sent@elsewhere.example>")
    payload["Headers"][-1] = {"Name": "References", "Value": "<never-sent@elsewhere.example>"}
    assert post_postmark(payload, **auth()).status_code == 200
    assert not Reply.objects.exists() and not EmailTracking.objects.exists()


def test_the_reply_address_matches_a_reply_without_thread_headers(in_sequence, settings):
    settings.REPLY_ADDRESS = "replies+{token}@mail.fliptech.example"
    recipient, _, _ = in_sequence
    payload = postmark_payload(in_reply_to="")
    payload["Headers"] = [h for h in payload["Headers"] if h["Name"] not in ("In-Reply-To", "References")]
    payload["ToFull"] = [{"Email": f"replies+{recipient.token}@mail.fliptech.example", "Name": "", "MailboxHash": ""}]
    assert post_postmark(payload, **auth()).status_code == 200
    assert_reply_recorded(recipient, step=1)  # the latest message it got


# --- Mailgun (legacy form post) -----------------------------------------------------------


def mailgun_form(message_headers, **fields):
    token, timestamp = "06c96bafc3f42a66b9edd546347a2fe18dc23461fe80dc52f0", "1764150000"
    signature = hmac.new(SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "token": token,
        "timestamp": timestamp,
        "signature": signature,
        "recipient": "news@fliptech.example",
        "sender": "owner@shop.example",
        "message-headers": json.dumps(message_headers),
        **fields,
    }


def test_mailgun_reply_uses_its_stripped_text(in_sequence):
    recipient, _, _ = in_sequence
    form = mailgun_form(
        [
            ["From", '"Shop Owner" <owner@shop.example>'],
            ["Date", "Mon, 30 Nov 2026 18:31:04 -0700"],
            ["Message-Id", "<mg-reply-1@mail.shop.example>"],
            ["In-Reply-To", STEP1_ID],
            ["References", f"{FIRST_ID} {STEP1_ID}"],
            ["Subject", "Re: An offer"],
            ["To", "news@fliptech.example"],
            ["Mime-Version", "1.0"],
        ],
        **{"body-plain": QUOTED, "stripped-text": "Yes, send me the price list."},
    )
    response = Client().post("/anymail/mailgun/inbound/", data=form, **auth())
    assert response.status_code == 200
    assert_reply_recorded(recipient, step=1)


# --- SendGrid (inbound parse, parsed fields) ----------------------------------------------


def test_sendgrid_reply_is_matched_by_in_reply_to(in_sequence):
    recipient, _, _ = in_sequence
    form = {
        "headers": dedent(f"""\
            MIME-Version: 1.0
            From: "Shop Owner" <owner@shop.example>
            Date: Mon, 30 Nov 2026 18:31:04 -0700
            Message-ID: <sg-reply-1@mail.shop.example>
            In-Reply-To: {FIRST_ID}
            References: {FIRST_ID}
            Subject: Re: An offer
            To: news@fliptech.example
            Content-Type: multipart/alternative; boundary="94eb2c115edcf35387055b61f849"
            """),
        "from": "Shop Owner <owner@shop.example>",
        "to": "news@fliptech.example",
        "subject": "Re: An offer",
        "text": QUOTED,
        "html": "<div>Yes, send me the price list.</div>",
        "charsets": '{"to":"UTF-8","html":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}',
        "envelope": '{"to":["news@fliptech.example"],"from":"owner@shop.example"}',
        "attachments": "0",
    }
    response = Client().post("/anymail/sendgrid/inbound/", data=form, **auth())
    assert response.status_code == 200
    assert_reply_recorded(recipient, step=0)


# --- Amazon SES (SNS notification with the raw message) ------------------------------------


def ses_inbound(raw: str):
    ses_event = {
        "notificationType": "Received",
        "mail": {
            "timestamp": "2026-11-30T17:21:51.636Z",
            "source": "owner@shop.example",
            "messageId": "jili9m351il3gkburn7o2f0u6788stij94c8ld01",
            "destination": ["news@fliptech.example"],
            "headersTruncated": False,
            "headers": [],
            "commonHeaders": {"from": ["owner@shop.example"], "to": ["news@fliptech.example"]},
        },
        "receipt": {
            "timestamp": "2026-11-30T17:21:51.636Z",
            "recipients": ["news@fliptech.example"],
            "action": {"type": "SNS", "topicArn": "arn:aws:sns:us-east-1:111111111111:SES_Inbound", "encoding": "UTF8"},
        },
        "content": raw,
    }
    return {
        "Type": "Notification",
        "MessageId": "8f6dee70-c885-558a-be7d-bd48bbf5335e",
        "TopicArn": "arn:aws:sns:us-east-1:111111111111:SES_Inbound",
        "Subject": "Amazon SES Email Receipt Notification",
        "Message": json.dumps(ses_event),
        "Timestamp": "2026-11-30T17:21:51.636Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE_SIGNATURE==",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-12345abcde.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn...",
    }


def post_ses(notification, **headers):
    return Client().post(
        "/anymail/amazon_ses/inbound/",
        data=json.dumps(notification),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=notification["Type"],
        HTTP_X_AMZ_SNS_MESSAGE_ID=notification["MessageId"],
        **headers,
    )


REPLY_MIME = (
    "From: Shop Owner <owner@shop.example>\r\nTo: news@fliptech.example\r\nSubject: Re: An offer\r\n"
    "Date: Mon, 30 Nov 2026 18:31:04 -0700\r\nMessage-ID: <ses-reply-1@mail.shop.example>\r\n"
    f"In-Reply-To: {STEP1_ID}\r\nReferences: {FIRST_ID} {STEP1_ID}\r\nMIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="UTF-8"\r\n\r\n' + QUOTED.replace("\n", "\r\n") + "\r\n"
)

DSN_MIME = (
    "From: Mail Delivery System <MAILER-DAEMON@mx.shop.example>\r\nTo: news@fliptech.example\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.shop.example>\r\n"
    "Auto-Submitted: no\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.shop.example\r\n\r\n"
    "Final-Recipient: rfc822; owner@shop.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n\r\n"
    "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: news@fliptech.example\r\n"
    f"To: owner@shop.example\r\nMessage-ID: {STEP1_ID}\r\nSubject: Re: An offer\r\n\r\n--B--\r\n"
)


def test_ses_reply_with_the_raw_message(in_sequence):
    recipient, _, _ = in_sequence
    assert post_ses(ses_inbound(REPLY_MIME), **auth()).status_code == 200
    assert_reply_recorded(recipient, step=1)


def test_ses_without_the_secret_gets_the_basic_auth_challenge(in_sequence):
    response = post_ses(ses_inbound(REPLY_MIME))
    assert response.status_code == 401 and not Reply.objects.exists()


def test_a_delivery_status_notification_is_a_hard_bounce_never_a_reply(in_sequence):
    recipient, _, step2 = in_sequence
    assert post_ses(ses_inbound(DSN_MIME), **auth()).status_code == 200
    assert not Reply.objects.exists()
    event = EmailTracking.objects.get()
    assert event.event_type == "bounce" and event.event_data["bounce_type"] == "hard"
    recipient.refresh_from_db()
    assert recipient.status == "bounced" and recipient.stop_reason == "bounced"
    assert recipient.replied_at is None
    step2.refresh_from_db()
    assert step2.status == "cancelled"
    from campaigns.models import Suppression

    assert Suppression.objects.filter(email="owner@shop.example", reason="hard_bounce").exists()


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not an email at all",
        "Subject: no body, no ids\r\n\r\n",
        'Content-Type: multipart/mixed; boundary="X"\r\n\r\n--X\r\nContent-Type: text/plain; charset=bogus-42\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
        "From: =?utf-8?q?broken\r\nIn-Reply-To: <<<>>>\r\nReferences: " + "<x@y> " * 5000 + "\r\n\r\nhi",
    ],
)
def test_bad_mail_is_skipped_never_a_500(in_sequence, raw):
    response = post_ses(ses_inbound(raw), **auth())
    assert response.status_code in (200, 400)
    assert not Reply.objects.exists()


def test_a_25_mb_attachment_is_stored_as_a_reply_without_its_attachment(in_sequence):
    recipient, _, _ = in_sequence
    line = "QUFB" * 19  # 76 characters of base64
    body = "\r\n".join([line] * (25 * 1024 * 1024 // 78))  # 25 MB
    raw = (
        REPLY_MIME.split("Content-Type:")[0] + 'Content-Type: multipart/mixed; boundary="Z"\r\n\r\n'
        "--Z\r\nContent-Type: text/plain\r\n\r\nYes, send me the price list.\r\n"
        "--Z\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="big.pdf"\r\n\r\n' + body + "\r\n--Z--\r\n"
    )
    response = post_ses(ses_inbound(raw), **auth())
    assert response.status_code == 200
    assert_reply_recorded(recipient, step=1)


def test_the_replies_endpoint_lists_them_newest_first(in_sequence, api):
    recipient, _, _ = in_sequence
    post_postmark(postmark_payload(), **auth())
    body = api.get(f"/api/v1/campaigns/{recipient.campaign.campaign_id}/replies").json()
    assert body["total"] == 1 and body["has_more"] is False
    assert body["replies"][0] | {"id": 0, "received_at": ""} == {
        "id": 0,
        "recipient_id": recipient.pk,
        "email_address": "owner@shop.example",
        "from": "Shop Owner <owner@shop.example>",
        "subject": "Re: An offer",
        "text": "Yes, send me the price list.",
        "received_at": "",
        "step": 1,
    }
    assert api.get(f"/api/v1/campaigns/{recipient.campaign.pk}/replies?page_size=0").status_code == 400
