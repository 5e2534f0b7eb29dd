"""An inline SVG bar chart of hourly sends, opens and clicks for the campaign page."""

from datetime import datetime, timedelta

from django.utils.html import format_html, format_html_join

CHART_COLOURS = {"sends": "#417690", "opens": "#70bf2b", "clicks": "#e8a33d"}
CHART_MAX_HOURS = 48
CHART_MIN_HOURS = 12  # a campaign sent within one hour still gets a readable axis


def _as_hour(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(minute=0, second=0, microsecond=0)


def hourly_chart_svg(series: dict) -> str:
    """An inline SVG bar chart of hourly counts: {"sends"|"opens"|"clicks": [{hour, count}]}.

    Hours without events are drawn as gaps; only the last CHART_MAX_HOURS hours are shown.
    Returns "" when there is nothing to draw.
    """
    counts = {name: {_as_hour(r["hour"]): r["count"] for r in rows} for name, rows in series.items()}
    hours = sorted({h for per_hour in counts.values() for h in per_hour})
    if not hours:
        return ""
    last = hours[-1]
    first = min(max(hours[0], last - timedelta(hours=CHART_MAX_HOURS - 1)), last - timedelta(hours=CHART_MIN_HOURS - 1))
    slots = [first + timedelta(hours=i) for i in range(int((last - first).total_seconds() // 3600) + 1)]
    peak = max(max(per_hour.values(), default=0) for per_hour in counts.values()) or 1
    width, height, left, bottom = 720, 180, 40, 24
    plot_w, plot_h = width - left - 8, height - bottom - 8
    slot_w = plot_w / len(slots)
    bar_w = max(slot_w / (len(counts) + 1), 1)
    bars = []
    for i, hour in enumerate(slots):
        for j, name in enumerate(counts):
            n = counts[name].get(hour, 0)
            if not n:
                continue
            h = plot_h * n / peak
            bars.append(
                (
                    round(left + i * slot_w + j * bar_w, 1),
                    round(8 + plot_h - h, 1),
                    round(bar_w, 1),
                    round(h, 1),
                    CHART_COLOURS.get(name, "#888"),
                    f"{hour:%Y-%m-%d %H}:00 UTC — {n} {name}",
                )
            )
    bars_svg = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>', bars
    )
    legend = format_html_join(
        "",
        '<tspan fill="{}" dx="12">■ {}</tspan>',
        ((CHART_COLOURS.get(name, "#888"), name) for name in counts),
    )
    return format_html(
        '<svg class="ft-chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="hourly sends, opens and clicks"'
        ' xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif">'
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/>'
        '<text x="{lt}" y="14" text-anchor="end">{peak}</text><text x="{lt}" y="{b}" text-anchor="end">0</text>'
        '<text x="{l}" y="{ty}">{start}</text>'
        '<text x="{r}" y="{ty}" text-anchor="end">{end} UTC</text>'
        '<text x="{mid}" y="{ty}" text-anchor="middle">{legend}</text>{bars}</svg>',
        w=width,
        h=height,
        l=left,
        r=width - 8,
        b=8 + plot_h,
        lt=left - 4,
        ty=height - 6,
        mid=width // 2,
        peak=peak,
        start=f"{slots[0]:%b %d %H}:00",
        end=f"{slots[-1]:%b %d %H}:00",
        legend=legend,
        bars=bars_svg,
    )
