"""Sending windows (contract: "Sending windows"): a campaign's `send_window` — null (any
time) or `{"days": ["mon", …], "start": "09:00", "end": "17:00", "timezone": "lead" | "<IANA>"}`
(`end` exclusive) — read in each recipient's time zone: the lead's `timezone` with
`"lead"`, falling back to the campaign's `timezone` (default settings.TIME_ZONE).

The sender asks `hold` after each claim: rows outside their window go back, due when it
next opens (`not_before` / `due_at`), and the rest of the batch goes ahead.
"""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone `name`, or None when it is not one."""
    if not isinstance(name, str) or not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def clean_zone(name: str) -> str:
    if zone(name) is None:
        raise ValueError(f"{str(name)[:64]!r} is not an IANA time zone (e.g. Europe/Berlin).")
    return name


def clean_window(value) -> dict | None:
    """A valid `send_window` (or None); ValueError naming the problem."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("Must be an object with days, start, end and timezone, or null.")
    unknown = set(value) - {"days", "start", "end", "timezone"}
    if unknown:
        raise ValueError(f"Unknown key(s): {', '.join(sorted(map(str, unknown)))[:100]}.")
    days = value.get("days", list(DAYS))
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise ValueError(f"days: a non-empty list of {', '.join(DAYS)}.")
    start, end = value.get("start"), value.get("end")
    for label, t in (("start", start), ("end", end)):
        if not isinstance(t, str) or not _HHMM.match(t):
            raise ValueError(f"{label}: a time as HH:MM (24 h).")
    if end <= start:
        raise ValueError("end must be after start (end is exclusive; a window does not span midnight).")
    tz = value.get("timezone", "lead")
    if tz != "lead":
        clean_zone(tz)
    return {"days": [d for d in DAYS if d in days], "start": start, "end": end, "timezone": tz}


def zone_for(window: dict, campaign, lead) -> ZoneInfo:
    if window["timezone"] != "lead":
        return zone(window["timezone"]) or ZoneInfo("UTC")
    return zone(getattr(lead, "timezone", "") or "") or zone(campaign.timezone or "") or ZoneInfo(settings.TIME_ZONE)


def _hm(text) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def opens_at(window: dict, tz: ZoneInfo, now: datetime) -> datetime | None:
    """None when `now` is inside the window in `tz`; else the next opening, in UTC."""
    local = now.astimezone(tz)
    start, end = _hm(window["start"]), _hm(window["end"])
    for ahead in range(8):
        day = local.date() + timedelta(days=ahead)
        if DAYS[day.weekday()] not in window["days"]:
            continue
        opens = datetime.combine(day, start, tzinfo=tz)
        closes = datetime.combine(day, end, tzinfo=tz)
        if ahead == 0 and opens <= local < closes:
            return None
        if opens > local:
            return opens.astimezone(UTC)
    return None  # unreachable with a non-empty list of days


def hold(campaign, rows, lead_of, now) -> dict:
    """{row pk: when its window opens} for the claimed `rows` outside their window."""
    window = campaign.send_window
    if not window:
        return {}
    held = {}
    for row in rows:
        at = opens_at(window, zone_for(window, campaign, lead_of(row)), now)
        if at is not None:
            held[row.pk] = at
    return held
