"""The hit rules are written twice — one SQL statement for PostgreSQL (`hits._hit_statement`)
and ORM calls through `event_record` for every other database (`hits._hit_orm`) — so both
run here, on PostgreSQL, over the same cases, and must leave the same trace: the same answer,
the same event row, the same recipient counters and timestamps, the same campaign counters.

Each case is set up twice, on two identical campaigns: one hit through each dialect.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignRecipient
from campaigns.selectors import campaign_counters
from tests.factories import CampaignFactory, CampaignLinkFactory, CampaignRecipientFactory
from tests.tracking.conftest import HUMAN_UA
from tracking import hits
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status

LONG_AGO = timedelta(hours=1)
JUST_NOW = timedelta(seconds=3)  # inside a 10 s scanner window

# The recipient before the hit: status, sent how long ago (None: never sent), already
# opened / clicked, and earlier machine hits.
STATES = {
    "sent, untouched": (Status.SENT, LONG_AGO, False, False),
    "sent, opened": (Status.SENT, LONG_AGO, True, False),
    "sent, opened and clicked": (Status.SENT, LONG_AGO, True, True),
    "sent just now": (Status.SENT, JUST_NOW, False, False),
    "bounced": (Status.BOUNCED, LONG_AGO, False, False),
    "pending (never sent)": (Status.PENDING, None, False, False),
    "failed (never sent)": (Status.FAILED, None, False, False),
}

# (user agent, address, HTTP method)
CLIENTS = {
    "person": (HUMAN_UA, "203.0.113.7", "GET"),
    "HEAD request": (HUMAN_UA, "203.0.113.7", "HEAD"),
    "bot": ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "198.51.100.1", "GET"),
    "Gmail proxy": (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        None,
        "GET",
    ),
    "Apple MPP": ("Mozilla/5.0", "17.58.1.1", "GET"),
    "no user agent, no address": ("", None, "GET"),
}


def _twin(state, link_url="https://fliptech.example/offer"):
    """A campaign with one tracked link and one recipient in `state`."""
    status, ago, opened, clicked = STATES[state]
    now = timezone.now()
    campaign = CampaignFactory()
    link = CampaignLinkFactory(campaign=campaign, url=link_url)
    recipient = CampaignRecipientFactory(
        campaign=campaign,
        status=status,
        sent_at=None if ago is None else now - ago,
        opened_at=now - timedelta(minutes=30) if opened else None,
        open_count=1 if opened else 0,
        clicked_at=now - timedelta(minutes=20) if clicked else None,
        click_count=1 if clicked else 0,
        machine_open_count=2,
        machine_click_count=1,
    )
    return recipient, link


def _trace(recipient, before):
    """What a hit left, in terms that do not depend on the recipient's identity."""
    after = CampaignRecipient.objects.get(pk=recipient.pk)
    events = [
        {
            "event_type": e.event_type,
            "is_machine": e.is_machine,
            "url": e.url,
            "has_link": e.link_id is not None,
            "campaign_is_the_recipients": e.campaign_id == recipient.campaign_id,
            "user_agent": e.user_agent,
            "ip_address": e.ip_address and str(e.ip_address),
            "event_data": e.event_data,
            "provider_event_id": e.provider_event_id,
        }
        for e in EmailTracking.objects.filter(campaign_recipient=recipient)
    ]
    stamps = {}
    for field in ("opened_at", "clicked_at"):
        old, new = getattr(before, field), getattr(after, field)
        stamps[field] = "unset" if new is None else "kept" if new == old else "set now"
    counters = campaign_counters(campaign_ids=[recipient.campaign_id])[recipient.campaign_id]
    return {
        "events": events,
        **stamps,
        "status": after.status,
        "sent": after.sent_at is not None,
        **{f: getattr(after, f) for f in ("open_count", "click_count", "machine_open_count", "machine_click_count")},
        "counters": counters,
    }


def _both(settings, *, window, kind, state, client, token_of=None, link_of=None):
    settings.TRACKING_SCANNER_WINDOW_SECONDS = window
    user_agent, ip, method = CLIENTS[client]
    traces = {}
    for name, record in (("sql", hits._hit_statement), ("python", hits._hit_orm)):
        recipient, link = _twin(state)
        before = CampaignRecipient.objects.get(pk=recipient.pk)
        args = hits.hit_arguments(
            token=token_of(recipient) if token_of else recipient.token,
            event_type=kind,
            link_id=(link_of(link) if link_of else link.pk) if kind == "click" else None,
            user_agent=user_agent,
            ip_address=ip,
            method=method,
        )
        answer = record(**args)
        traces[name] = {"answer": answer, **_trace(recipient, before)}
    return traces


@pytest.mark.parametrize("window", [0, 10], ids=["no scanner window", "10 s scanner window"])
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("kind", ["open", "click"])
def test_both_dialects_record_a_hit_alike(require_postgres, settings, window, kind, state, client):
    traces = _both(settings, window=window, kind=kind, state=state, client=client)
    assert traces["sql"] == traces["python"]
    # …and the hit was recorded at all (the two cannot agree on doing nothing).
    assert traces["sql"]["answer"][0] is True and len(traces["sql"]["events"]) == 1


@pytest.mark.parametrize("kind", ["open", "click"])
def test_both_dialects_ignore_an_unknown_token(require_postgres, settings, kind):
    traces = _both(settings, window=0, kind=kind, state="sent, untouched", client="person", token_of=lambda r: "nope")
    assert traces["sql"] == traces["python"]
    assert traces["sql"]["answer"] == (False, "") and traces["sql"]["events"] == []


@pytest.mark.parametrize(
    "link_of", [lambda link: CampaignLinkFactory().pk, lambda link: 2**62], ids=["another campaign's", "unknown"]
)
def test_both_dialects_ignore_a_click_on_a_link_not_of_the_campaign(require_postgres, settings, link_of):
    traces = _both(settings, window=0, kind="click", state="sent, untouched", client="person", link_of=link_of)
    assert traces["sql"] == traces["python"]
    assert traces["sql"]["answer"] == (False, "") and traces["sql"]["events"] == []
    assert traces["sql"]["open_count"] == 0
