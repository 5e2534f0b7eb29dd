"""Fuzzing against our own OpenAPI schema (schemathesis): every operation, authenticated as a
marketer, a bounded number of generated requests each — valid and invalid ones alike. No answer
is a 5xx, and every answer (status code, content type, body) is one the schema documents.

FUZZ_EXAMPLES (default 5) bounds the random requests per operation; with the coverage phase
(boundary values, missing and unexpected parameters and methods) the test costs about 60 s of
CPU per suite run. Raise it locally (`FUZZ_EXAMPLES=200`) for a deeper search."""

import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.models import Campaign
from fliptech.wsgi import application
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTrackingFactory

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# The coverage phase (boundary values, missing and unexpected parameters and methods, for
# every operation) runs in full unless FUZZ_COVERAGE=0; FUZZ_EXAMPLES bounds the random phase.
schema.config.phases.coverage.enabled = os.environ.get("FUZZ_COVERAGE", "1") != "0"


@pytest.fixture
def token(user, settings, tmp_path):
    """The marketer's token, and a little data so that some generated ids exist."""
    settings.MEDIA_ROOT = tmp_path  # uploads made by the fuzzer land here
    settings.TEST_SEND_LIMIT = 0
    campaign = CampaignFactory()
    recipient = CampaignRecipientFactory(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=1)  # as endpoint 7 keeps it
    EmailTrackingFactory(campaign_recipient=recipient)
    # The WSGI app is called directly: keep the test's connection (and transaction) open
    # across requests, as Django's test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield Token.objects.get_or_create(user=user)[0].key
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a CI failure reproduces locally
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
