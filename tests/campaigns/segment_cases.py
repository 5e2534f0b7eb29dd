"""Known leads, recipients and every segment op with the exact members it must give.

`build(using)` writes the same rows into any database alias, so the cases run on the test
database and on the other engine (tests/campaigns/test_segment_rules.py).

Leads (e is suppressed: never a member, whatever matches):
  a  Ann Lee, Acme Roofing, 555-0100, Austin, craigslist, new,       [vip, roofing], score 42,      10 days old
  b  Bob -,   -,            -,        austin, linkedin,  contacted, [roofing],      score "7",     100 days
  c  Cara Diaz, Zeta,       555-0199, Dallas, google_maps, qualified, [],           score "100.5", 400 days
  d  dan Lee, ACME,         -,        Houston, job_boards, converted, [vip],        score "high",  1 day
  e  Eve (suppressed),                Austin, craigslist, new,       [vip],          score 50,      5 days
Recipients (C1, C2):
  a: C1 sent+opened+clicked 3 days ago; C2 sent 3 days ago
  b: C1 sent 3 days ago, one machine open only; C2 sent then bounced
  c: C2 sent, opened and replied 60 days ago
  d: C1 pending (never sent)
  e: C1 sent and opened
"""

import datetime as dt

from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, Lead, Suppression

LEADS = {
    "a": dict(
        first_name="Ann",
        last_name="Lee",
        company="Acme Roofing",
        phone="555-0100",
        city="Austin",
        source="craigslist",
        status="new",
        tags=["vip", "roofing"],
        attributes={"score": 42, "plan": "Gold", "active": True, "since": "2024-03-01"},
        days=10,
    ),
    "b": dict(
        first_name="Bob",
        city="austin",
        source="linkedin",
        status="contacted",
        tags=["roofing"],
        attributes={"score": "7", "plan": "silver", "active": "false"},
        days=100,
    ),
    "c": dict(
        first_name="Cara",
        last_name="Diaz",
        company="Zeta",
        phone="555-0199",
        city="Dallas",
        source="google_maps",
        status="qualified",
        tags=[],
        attributes={"score": "100.5", "plan": "gold plus", "note": "n/a"},
        days=400,
    ),
    "d": dict(
        first_name="dan",
        last_name="Lee",
        company="ACME",
        city="Houston",
        source="job_boards",
        status="converted",
        tags=["vip"],
        attributes={"score": "high", "active": False},
        days=1,
    ),
    "e": dict(
        first_name="Eve",
        city="Austin",
        source="craigslist",
        status="new",
        tags=["vip"],
        attributes={"score": 50},
        days=5,
    ),
}
EMAILS = {"a": "a@x.com", "b": "b@y.org", "c": "c@x.com", "d": "d@z.net", "e": "e@x.com"}


def build(using: str = "default") -> dict:
    """The rows above in database `using`; returns {"C1": campaign, "C2": campaign, key: lead}."""
    now = timezone.now()
    ago = lambda days: now - dt.timedelta(days=days)  # noqa: E731
    out = {}
    for key, fields in LEADS.items():
        fields = dict(fields)
        days = fields.pop("days")
        lead = Lead.objects.using(using).create(email=EMAILS[key], **fields)
        Lead.objects.using(using).filter(pk=lead.pk).update(created_at=ago(days))
        out[key] = lead
    Suppression.objects.using(using).create(email="e@x.com", reason="manual")
    c1 = Campaign.objects.using(using).create(name="C1", status="completed")
    c2 = Campaign.objects.using(using).create(name="C2", status="completed")
    out["C1"], out["C2"] = c1, c2
    rows = [
        ("a", c1, dict(status="sent", sent_at=ago(3), opened_at=ago(3), clicked_at=ago(3), open_count=1)),
        ("a", c2, dict(status="sent", sent_at=ago(3))),
        ("b", c1, dict(status="sent", sent_at=ago(3), machine_open_count=1)),
        ("b", c2, dict(status="bounced", sent_at=ago(3), bounced_at=ago(3))),
        ("c", c2, dict(status="sent", sent_at=ago(60), opened_at=ago(60), replied_at=ago(60), open_count=1)),
        ("d", c1, dict(status="pending")),
        ("e", c1, dict(status="sent", sent_at=ago(3), opened_at=ago(3), open_count=1)),
    ]
    for n, (key, campaign, fields) in enumerate(rows):
        CampaignRecipient.objects.using(using).create(
            campaign=campaign, lead=out[key], email_address=EMAILS[key], token=f"tok{n}-{key}", **fields
        )
    return out


def _c(field, op, value=None):
    return {"field": field, "op": op, "value": value}


# (case id, a function of the built data giving the rules, the expected member keys)
CASES = [
    # text fields, case-insensitive
    ("email-eq", lambda d: [_c("email", "eq", "A@X.COM")], "a"),
    ("email-neq", lambda d: [_c("email", "neq", "a@x.com")], "bcd"),
    ("email-ends_with", lambda d: [_c("email", "ends_with", "@X.com")], "ac"),
    ("first_name-eq", lambda d: [_c("first_name", "eq", "DAN")], "d"),
    ("city-eq-list", lambda d: [_c("city", "eq", ["Houston", "DALLAS"])], "cd"),
    ("city-in", lambda d: [_c("city", "in", ["AUSTIN", "dallas"])], "abc"),
    ("city-not_in", lambda d: [_c("city", "not_in", ["austin"])], "cd"),
    ("company-contains", lambda d: [_c("company", "contains", "acme")], "ad"),
    ("company-starts_with", lambda d: [_c("company", "starts_with", "aC")], "ad"),
    ("company-ends_with", lambda d: [_c("company", "ends_with", "ROOFING")], "a"),
    ("company-is_empty", lambda d: [_c("company", "is_empty")], "b"),
    ("phone-is_not_empty", lambda d: [_c("phone", "is_not_empty")], "ac"),
    ("last_name-is_empty", lambda d: [_c("last_name", "is_empty")], "b"),
    ("first_name-contains-any", lambda d: [_c("first_name", "contains", ["an", "OB"])], "abd"),
    ("source-contains-underscore-literal", lambda d: [_c("source", "contains", "_")], "cd"),
    ("source-eq", lambda d: [_c("source", "eq", "LinkedIn")], "b"),
    ("status-in", lambda d: [_c("status", "in", ["new", "converted"])], "ad"),
    ("status-neq", lambda d: [_c("status", "neq", "new")], "bcd"),
    # tags, exact
    ("tags-has_any", lambda d: [_c("tags", "has_any", ["vip"])], "ad"),
    ("tags-has_any-two", lambda d: [_c("tags", "has_any", ["vip", "roofing"])], "abd"),
    ("tags-has_all", lambda d: [_c("tags", "has_all", ["vip", "roofing"])], "a"),
    ("tags-has_all-repeated", lambda d: [_c("tags", "has_all", ["vip", "vip"])], "ad"),
    ("tags-has_none", lambda d: [_c("tags", "has_none", ["vip"])], "bc"),
    ("tags-exact-case", lambda d: [_c("tags", "has_any", ["VIP"])], ""),
    # attributes: numbers and numeric strings compare numerically
    ("attr-gt-number", lambda d: [_c("attributes.score", "gt", 10)], "ac"),
    ("attr-gt-numeric-string", lambda d: [_c("attributes.score", "gt", "10")], "ac"),
    ("attr-gte", lambda d: [_c("attributes.score", "gte", 7)], "abc"),
    ("attr-lt", lambda d: [_c("attributes.score", "lt", 7)], ""),
    ("attr-lte", lambda d: [_c("attributes.score", "lte", 42)], "ab"),
    ("attr-eq-number", lambda d: [_c("attributes.score", "eq", 42)], "a"),
    ("attr-eq-numeric-string", lambda d: [_c("attributes.score", "eq", "42.0")], "a"),
    ("attr-eq-decimal", lambda d: [_c("attributes.score", "eq", 100.5)], "c"),
    ("attr-eq-text", lambda d: [_c("attributes.score", "eq", "HIGH")], "d"),
    ("attr-neq-number", lambda d: [_c("attributes.score", "neq", 42)], "bcd"),
    ("attr-neq-missing-key", lambda d: [_c("attributes.plan", "neq", "gold")], "bcd"),
    ("attr-eq-text-ci", lambda d: [_c("attributes.plan", "eq", "GOLD")], "a"),
    ("attr-contains", lambda d: [_c("attributes.plan", "contains", "gold")], "ac"),
    ("attr-contains-number", lambda d: [_c("attributes.score", "contains", 5)], "c"),
    ("attr-eq-true", lambda d: [_c("attributes.active", "eq", True)], "a"),
    ("attr-eq-false", lambda d: [_c("attributes.active", "eq", False)], "bd"),
    ("attr-neq-true", lambda d: [_c("attributes.active", "neq", True)], "bcd"),
    ("attr-gt-text", lambda d: [_c("attributes.since", "gt", "2024-01-01")], "a"),
    ("attr-gt-text-ci", lambda d: [_c("attributes.plan", "gt", "H")], "b"),
    ("attr-exists", lambda d: [_c("attributes.note", "exists")], "c"),
    ("attr-not_exists", lambda d: [_c("attributes.note", "not_exists")], "abd"),
    # created_at
    (
        "created-after",
        lambda d: [_c("created_at", "after", (timezone.now() - dt.timedelta(days=50)).isoformat())],
        "ad",
    ),
    (
        "created-before",
        lambda d: [_c("created_at", "before", (timezone.now() - dt.timedelta(days=50)).isoformat())],
        "bc",
    ),
    ("created-within_days", lambda d: [_c("created_at", "within_days", 7)], "d"),
    ("created-within_days-11", lambda d: [_c("created_at", "within_days", 11)], "ad"),
    # engagement: people only, negations need a received message
    ("received", lambda d: [_c("engagement", "received", {})], "abc"),
    ("not_received", lambda d: [_c("engagement", "not_received")], "d"),
    ("received-campaign", lambda d: [_c("engagement", "received", {"campaign": d["C2"].pk})], "ac"),
    ("received-public-id", lambda d: [_c("engagement", "received", {"campaign": d["C2"].campaign_id})], "ac"),
    ("not_received-campaign", lambda d: [_c("engagement", "not_received", {"campaign": d["C2"].pk})], "bd"),
    ("received-within", lambda d: [_c("engagement", "received", {"within_days": 30})], "ab"),
    ("opened", lambda d: [_c("engagement", "opened", {})], "ac"),
    ("opened-campaign-machine-excluded", lambda d: [_c("engagement", "opened", {"campaign": d["C1"].pk})], "a"),
    ("not_opened-campaign", lambda d: [_c("engagement", "not_opened", {"campaign": d["C1"].pk})], "b"),
    ("not_opened-campaign-2", lambda d: [_c("engagement", "not_opened", {"campaign": d["C2"].pk})], "a"),
    ("not_opened-any", lambda d: [_c("engagement", "not_opened", {})], "b"),
    ("opened-within", lambda d: [_c("engagement", "opened", {"within_days": 30})], "a"),
    ("not_opened-within", lambda d: [_c("engagement", "not_opened", {"within_days": 30})], "b"),
    ("clicked", lambda d: [_c("engagement", "clicked", None)], "a"),
    ("not_clicked", lambda d: [_c("engagement", "not_clicked", {})], "bc"),
    ("replied", lambda d: [_c("engagement", "replied", {})], "c"),
    ("not_replied-campaign", lambda d: [_c("engagement", "not_replied", {"campaign": d["C1"].pk})], "ab"),
]

MATCH_CASES = [
    ("match-any", "any", lambda d: [_c("city", "eq", "dallas"), _c("tags", "has_any", ["vip"])], "acd"),
    ("match-all", "all", lambda d: [_c("city", "eq", "austin"), _c("tags", "has_any", ["roofing"])], "ab"),
    ("match-any-engagement", "any", lambda d: [_c("engagement", "replied"), _c("attributes.score", "gt", 40)], "ac"),
    ("no-conditions", "all", lambda d: [], "abcd"),
]


def all_cases():
    """[(id, match, conditions function, expected keys)]: every op, then match all/any."""
    return [(cid, "all", fn, expected) for cid, fn, expected in CASES] + MATCH_CASES
