"""Tracking written into messages: the open/click/unsubscribe URLs and link instrumentation.

Tracking is written into the template *source* once per campaign where it can be: every
static http(s) href becomes `<SITE_URL>/t/c/{{ fliptech_token }}/<link id>`, and the pixel
`<SITE_URL>/t/o/{{ fliptech_token }}.gif` goes before </body>; the recipient's token is
then just one more context variable. Only URLs built by the template itself ("dynamic",
e.g. `href="https://x.example/{{ lead.id }}"`) are rewritten per message, after rendering.
"""

import html
import re
from urllib.parse import urlsplit

from django.conf import settings

# --- URLs written into messages --------------------------------------------------------


def open_url(token: str) -> str:
    return f"{settings.SITE_URL}/t/o/{token}.gif"


def click_url(token: str, link_id) -> str:
    return f"{settings.SITE_URL}/t/c/{token}/{link_id}"


def unsubscribe_url(token: str) -> str:
    return f"{settings.SITE_URL}/u/{token}/"


def view_in_browser_url(token: str) -> str:
    return f"{settings.SITE_URL}/v/{token}/"


# --- Instrumenting ---------------------------------------------------------------------------

TOKEN_VAR = "fliptech_token"
TOKEN_TAG = "{{ fliptech_token }}"
_HREF = re.compile(r"""(<a(?:rea)?\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_TEXT_URL = re.compile(r"""https?://[^\s<>"'()\[\]]+""", re.IGNORECASE)
_TRAILING = ".,;:!?"
_OWN_LINK = re.compile(r"^\{\{\s*(unsubscribe_url|view_in_browser_url)\s*\}\}$")


def _trackable(url: str, skip) -> bool:
    return url[:8].lower().startswith(("http://", "https://")) and not url.startswith(skip)


def _text_url(match) -> str:
    return match.group(0).rstrip(_TRAILING)


def _own_prefixes(token: str) -> tuple:
    return (unsubscribe_url(token), f"{settings.SITE_URL}/t/")


def instrument_source(body_html: str, body_text: str, *, link_ids_for, track_clicks=True, track_opens=True):
    """(html source, text source, dynamic) with tracking written into the sources.

    `link_ids_for(urls) -> {url: link id}` gives (creating) the campaign's link rows for the
    static URLs. `dynamic` says whether some links are built by the template and must be
    rewritten per message (`find_links` / `rewrite_links`)."""
    dynamic = False
    if track_clicks:
        static = set()
        for m in _HREF.finditer(body_html):
            url = html.unescape(m.group(3)).strip()
            if "{" in url:
                dynamic = dynamic or not _OWN_LINK.match(url)
            elif _trackable(url, ()):
                static.add(url)
        for m in _TEXT_URL.finditer(body_text):
            url = _text_url(m)
            if "{" in url:
                dynamic = True
            elif _trackable(url, ()):
                static.add(url)
        ids = link_ids_for(static) if static else {}
        body_html, body_text = rewrite_links(body_html, body_text, TOKEN_TAG, ids, skip=())
    if track_opens:
        body_html = add_open_pixel(body_html, TOKEN_TAG)
    return body_html, body_text, dynamic


def find_links(body_html: str, body_text: str, *, token: str, hosts=None) -> set:
    """Every http(s) URL linked from the rendered HTML (<a>/<area> href, entities decoded)
    or written in the text part, except the unsubscribe link and our own tracking URLs —
    and, given `hosts`, except a URL whose host is not one of them (`link_hosts`)."""
    skip = _own_prefixes(token)
    urls = {html.unescape(m.group(3)).strip() for m in _HREF.finditer(body_html)}
    urls.update(_text_url(m) for m in _TEXT_URL.finditer(body_text))
    return {u for u in urls if _trackable(u, skip) and (hosts is None or host_of(u) in hosts)}


# --- Links built from lead data (CONTRACT.md, Privacy and safety) -----------------------------
# A URL a template builds at render time may come from lead data (`href="{{ lead.attributes.url
# }}"`): tracking it would make our tracking domain redirect wherever a lead's value points. It
# is tracked only when its host is one the template's own links name literally, or one in
# TRACKING_ALLOWED_HOSTS; otherwise it stays as it is, untracked.

_AUTHORITY = re.compile(r"^https?://([^/?#]*)", re.IGNORECASE)
# Characters on which browsers and urlsplit disagree about the host (`\` is a `/` to a browser).
_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f]")


def host_of(url: str) -> str | None:
    """The lower-cased host of an http(s) URL, None when there is none or it is ambiguous."""
    if _AMBIGUOUS.search(url):
        return None
    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


def link_hosts(body_html: str, body_text: str = "") -> frozenset:
    """The hosts the template's own links name literally (in the source, before rendering),
    with TRACKING_ALLOWED_HOSTS: the hosts a link built at render time may be tracked for."""
    urls = [html.unescape(m.group(3)).strip() for m in _HREF.finditer(body_html)]
    urls.extend(_text_url(m) for m in _TEXT_URL.finditer(body_text))
    hosts = set(getattr(settings, "TRACKING_ALLOWED_HOSTS", ()))
    for url in urls:
        authority = _AUTHORITY.match(url)
        if authority and "{" not in authority.group(1):
            host = host_of(authority.group(0))  # the rest may hold template tags
            if host:
                hosts.add(host)
    return frozenset(hosts)


def rewrite_links(body_html: str, body_text: str, token: str, link_ids: dict, *, skip=None):
    """(html, text) with each http(s) link in `link_ids` replaced by its click-tracking URL.
    mailto:, tel:, #anchors, the unsubscribe link and tracking URLs stay as they are."""
    skip = _own_prefixes(token) if skip is None else skip

    def href(m):
        url = html.unescape(m.group(3)).strip()
        if url in link_ids and _trackable(url, skip):
            return f"{m.group(1)}{m.group(2)}{click_url(token, link_ids[url])}{m.group(2)}"
        return m.group(0)

    def text_url(m):
        url = _text_url(m)
        if url in link_ids and _trackable(url, skip):
            return click_url(token, link_ids[url]) + m.group(0)[len(url) :]
        return m.group(0)

    return _HREF.sub(href, body_html), _TEXT_URL.sub(text_url, body_text)


def open_pixel(token: str) -> str:
    return (
        f'<img src="{open_url(token)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px" />'
    )


def without_open_pixel(html: str, token: str) -> str:
    """The rendered message without its open pixel (the web version records no open),
    however the CSS inliner re-wrote the tag."""
    return re.sub(rf"<img\b[^>]*\bsrc=[\"']{re.escape(open_url(token))}[\"'][^>]*>", "", html)


def add_open_pixel(body_html: str, token: str) -> str:
    """A 1×1 image just before the last </body> (or at the end)."""
    pixel = open_pixel(token)
    at = body_html.rfind("</body")
    if at < 0:
        at = body_html.lower().rfind("</body")
    if at < 0:
        return body_html + pixel
    return body_html[:at] + pixel + body_html[at:]
