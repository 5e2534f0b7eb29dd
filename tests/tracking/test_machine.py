"""tracking.machine.is_machine: which hits are proxies, scanners and bots."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.tracking.conftest import HUMAN_UA
from tracking.machine import is_machine

SENT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)"
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)


@pytest.mark.parametrize(
    ("event_type", "ua", "ip", "method", "after", "expected"),
    [
        ("open", HUMAN_UA, "203.0.113.5", "GET", timedelta(hours=1), False),
        ("open", GMAIL_PROXY, "66.249.84.1", "GET", timedelta(seconds=1), False),
        ("open", OUTLOOK, None, "GET", timedelta(minutes=5), False),
        ("open", IPHONE_MAIL, "198.51.100.7", "GET", timedelta(minutes=5), False),
        # Apple Mail Privacy Protection: bare UA, or Apple's 17.0.0.0/8
        ("open", "Mozilla/5.0", "203.0.113.5", "GET", timedelta(minutes=1), True),
        ("open", IPHONE_MAIL, "17.58.100.2", "GET", timedelta(minutes=1), True),
        ("open", HUMAN_UA, None, "HEAD", timedelta(hours=1), True),
        ("click", HUMAN_UA, None, "HEAD", timedelta(hours=1), True),
        # an unknown or generic client is not judged a machine: it may act for a person
        ("open", "", None, "GET", timedelta(hours=1), False),
        ("open", "python-requests/2.31.0", None, "GET", timedelta(minutes=1), False),
        ("open", "Googlebot/2.1 (+http://www.google.com/bot.html)", None, "GET", timedelta(hours=1), True),
        (
            "click",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            None,
            "GET",
            timedelta(hours=1),
            True,
        ),
        ("click", "Mozilla/5.0 (compatible; Barracuda Sentinel)", None, "GET", timedelta(hours=1), True),
        # the scanner time window is off by default: a quick click is a person's
        ("click", HUMAN_UA, None, "GET", timedelta(seconds=3), False),
        # a person opening right away is a person
        ("open", HUMAN_UA, None, "GET", timedelta(seconds=3), False),
        ("bounce", "", None, "GET", timedelta(seconds=1), False),
    ],
)
def test_is_machine(event_type, ua, ip, method, after, expected):
    assert (
        is_machine(event_type=event_type, user_agent=ua, ip_address=ip, method=method, sent_at=SENT, at=SENT + after)
        is expected
    )


def test_cubot_phone_is_not_a_bot():
    ua = "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile Safari/537.36"
    assert is_machine(event_type="open", user_agent=ua) is False


def test_malformed_ip_is_not_an_error():
    assert is_machine(event_type="open", user_agent=HUMAN_UA, ip_address="not-an-ip") is False


@pytest.mark.parametrize(("after", "expected"), [(timedelta(seconds=3), True), (timedelta(minutes=2), False)])
def test_with_a_scanner_window_a_click_seconds_after_sending_is_a_machine(settings, after, expected):
    settings.TRACKING_SCANNER_WINDOW_SECONDS = 10
    assert is_machine(event_type="click", user_agent=HUMAN_UA, sent_at=SENT, at=SENT + after) is expected
