"""Sending windows (contract: "Sending windows"): a campaign's `send_window` — null (any
time) or `{"days": ["mon", …], "start": "09:00", "end": "17:00", "timezone": "lead" | "<IANA>"}`
(`end` exclusive) — read in each recipient's time zone: the lead's `timezone` with
`"lead"`, falling back to the campaign's `timezone` (default settings.TIME_ZONE).

Times are wall-clock times in that zone. A window whose `end` is before its `start`
(22:00–06:00) spans midnight: it opens on each of `days` at `start` and closes at `end` the
next morning (so `"days": ["fri"]` is Friday 22:00 to Saturday 06:00). Across a DST change
a window keeps its wall-clock times: it is an hour shorter or longer that day, and a `start`
that falls in the hour the clocks skip opens when they resume (02:30 on a spring-forward
night opens at 03:30 new time).

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
    if end == start:
        raise ValueError("end must differ from start (end is exclusive; an end before the start spans midnight).")
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


def is_inside(window: dict, wall: datetime) -> bool:
    """Whether the wall-clock time `wall` (naive, in the recipient's zone) is in the window."""
    start, end = _hm(window["start"]), _hm(window["end"])
    day, at = wall.date(), wall.time()
    opened_today = DAYS[day.weekday()] in window["days"]
    if start < end:
        return opened_today and start <= at < end
    opened_yesterday = DAYS[(day - timedelta(days=1)).weekday()] in window["days"]
    return (opened_today and at >= start) or (opened_yesterday and at < end)


def opens_at(window: dict, tz: ZoneInfo, now: datetime) -> datetime | None:
    """None when `now` is inside the window in `tz`; else the next opening, in UTC."""
    wall = now.astimezone(tz).replace(tzinfo=None)
    if is_inside(window, wall):
        return None
    start = _hm(window["start"])
    for ahead in range(8):
        day = wall.date() + timedelta(days=ahead)
        opens = datetime.combine(day, start)
        if DAYS[day.weekday()] in window["days"] and opens > wall:
            # fold=0: an ambiguous time is its first occurrence; a skipped one maps past the gap.
            return opens.replace(tzinfo=tz).astimezone(UTC)
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
