"""ANYMAIL_* environment values typed as anymail reads them, and Amazon SES's subscription
confirmation without AWS credentials: a logged refusal, never a 500."""

import base64
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from fliptech.anymail_env import anymail_settings
from tracking.models import EmailTracking

SECRET = "hooks:s3cret-pass"


def test_booleans_numbers_and_objects_are_parsed_and_keys_stay_strings():
    env = {
        "ANYMAIL_AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": "false",
        "ANYMAIL_IGNORE_RECIPIENT_STATUS": "Yes",
        "ANYMAIL_POSTMARK_USE_BULK_API": "0",
        "ANYMAIL_REQUESTS_TIMEOUT": "12.5",
        "ANYMAIL_AMAZON_SES_DOWNLOAD_CHUNK_SIZE": "65536",
        "ANYMAIL_AMAZON_SES_CLIENT_PARAMS": '{"region_name": "eu-west-1"}',
        "ANYMAIL_MAILJET_API_KEY": "1234567890",  # all digits, still a key
        "ANYMAIL_WEBHOOK_SECRET": "user:pass",
        "ANYMAIL_EMPTY": "",
        "OTHER": "x",
    }
    assert anymail_settings(env) == {
        "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": False,
        "IGNORE_RECIPIENT_STATUS": True,
        "POSTMARK_USE_BULK_API": False,
        "REQUESTS_TIMEOUT": 12.5,
        "AMAZON_SES_DOWNLOAD_CHUNK_SIZE": 65536,
        "AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"},
        "MAILJET_API_KEY": "1234567890",
        "WEBHOOK_SECRET": "user:pass",
    }


@pytest.mark.parametrize(
    "name, value",
    [
        ("ANYMAIL_IGNORE_RECIPIENT_STATUS", "maybe"),
        ("ANYMAIL_REQUESTS_TIMEOUT", "soon"),
        ("ANYMAIL_SEND_DEFAULTS", "[1, 2]"),
    ],
)
def test_a_value_that_does_not_parse_names_the_variable(name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        anymail_settings({name: value})


def subscription_confirmation():
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:SES_Tracking",
        "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:SES_Tracking.",
        "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns",
        "Timestamp": "2026-11-26T13:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE...",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
    }


def post_confirmation():
    body = subscription_confirmation()
    return Client().post(
        "/anymail/amazon_ses/tracking/",
        data=json.dumps(body),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=body["Type"],
        HTTP_X_AMZ_SNS_MESSAGE_ID=body["MessageId"],
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(SECRET.encode()).decode(),
    )


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.django_db
def test_ses_subscription_confirmation_without_credentials_is_not_a_500(settings, no_aws_credentials, caplog):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    response = post_confirmation()
    assert response.status_code == 200
    assert "not confirmed (NoCredentialsError)" in caplog.text
    assert not EmailTracking.objects.exists()


@pytest.mark.django_db
def test_ses_auto_confirm_switched_off_from_the_environment_does_nothing(settings, no_aws_credentials, caplog):
    settings.ANYMAIL = anymail_settings(
        {"ANYMAIL_WEBHOOK_SECRET": SECRET, "ANYMAIL_AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": "false"}
    )
    assert post_confirmation().status_code == 200
    assert "not confirmed" not in caplog.text
