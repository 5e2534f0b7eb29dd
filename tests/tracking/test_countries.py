"""Opens and clicks by country: iptocc's offline dataset by default, MaxMind's database
through GEOIP_PATH (a small one written for the test), exact counts."""

import os
import subprocess
import sys

import pytest

from tests.factories import CampaignRecipientFactory, EmailTrackingFactory
from tracking import geo
from tracking.selectors import campaign_analytics

pytestmark = pytest.mark.django_db

GOOGLE_DNS, CLOUDFLARE_DNS, UK_ADDRESS = "8.8.8.8", "1.1.1.1", "81.2.69.142"


def hits(campaign_recipient, kind, ips):
    for ip in ips:
        EmailTrackingFactory(campaign_recipient=campaign_recipient, event_type=kind, ip_address=ip)


def test_iptocc_answers_without_any_download():
    assert geo.country_codes([GOOGLE_DNS, UK_ADDRESS, "2001:4860:4860::8888"]) == ["US", "GB", "US"]
    assert geo.country_codes(["10.0.0.1", "127.0.0.1", None, "garbage", "1.2.3.4\x00"]) == ["Unknown"] * 5
    assert geo.source() == "iptocc"


def test_analytics_count_opens_and_clicks_by_country_exactly():
    recipient = CampaignRecipientFactory(status="sent", sent_at="2026-01-01T10:00:00Z")
    hits(recipient, "open", [GOOGLE_DNS, GOOGLE_DNS, UK_ADDRESS, "192.168.1.9", None])
    hits(recipient, "click", [UK_ADDRESS])
    EmailTrackingFactory(campaign_recipient=recipient, event_type="open", ip_address=GOOGLE_DNS, is_machine=True)

    a = campaign_analytics(campaign=recipient.campaign)

    assert a["opens_by_location"] == [
        {"country": "US", "count": 2},
        {"country": "Unknown", "count": 2},  # a private address, and one without any
        {"country": "GB", "count": 1},
    ]
    assert a["clicks_by_location"] == [{"country": "GB", "count": 1}]


@pytest.fixture
def geolite(tmp_path, settings):
    """A MaxMind database (GeoLite2-Country.mmdb in a directory) saying 1.1.1.0/24 is FR."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["1.1.1.0/24"]), {"country": {"iso_code": "FR"}})
    writer.to_db_file(str(tmp_path / "GeoLite2-Country.mmdb"))
    settings.GEOIP_PATH = str(tmp_path)
    geo._reader.cache_clear()
    yield tmp_path
    geo._reader.cache_clear()


def test_geoip_path_uses_maxminds_database(geolite):
    assert geo.source() == "geoip"
    assert geo.country_codes([CLOUDFLARE_DNS, GOOGLE_DNS]) == ["FR", "Unknown"]  # only what the file lists


def test_a_geoip_path_without_a_database_falls_back_to_iptocc(tmp_path, settings):
    settings.GEOIP_PATH = str(tmp_path / "missing")
    geo._reader.cache_clear()

    assert geo.source() == "iptocc"
    assert geo.country_codes([CLOUDFLARE_DNS]) == ["AU"]
    geo._reader.cache_clear()


def test_settings_read_geoip_path_from_the_environment():
    code = "import fliptech.settings as s; print(s.GEOIP_PATH)"
    for value, expected in (("/srv/geoip", "/srv/geoip"), ("", "None")):
        env = {**os.environ, "GEOIP_PATH": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected
