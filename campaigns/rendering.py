"""Template → message: compile, render from plain data, derive the text part, inline CSS.

Templates are Django templates compiled by a dedicated `django.template.Engine`, not the
project's TEMPLATES backend: no context processors, no template loaders that could reach
project files, no `{% load %}` libraries beyond the builtins. The context is plain data
(dicts and strings), never model instances, so a template cannot reach the ORM or
settings. HTML renders with autoescaping on; the subject and the text part with it off.

The text part, when the template has none, is derived from the HTML *source* once (the
template tags survive the conversion), so each message renders a compiled text template
instead of parsing its rendered HTML again. CSS in `<style>` blocks is inlined with
css-inline after rendering.
"""

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import css_inline
from django.conf import settings
from django.template import Context, Engine, TemplateSyntaxError

from .exceptions import TemplateError

# Compile-time checks: debug on, so syntax errors carry their line.
_DEBUG_HTML = Engine(debug=True, autoescape=True, loaders=[])
_DEBUG_TEXT = Engine(debug=True, autoescape=False, loaders=[])
# Sending: the same engines without the debug bookkeeping.
HTML_ENGINE = Engine(autoescape=True, loaders=[])
TEXT_ENGINE = Engine(autoescape=False, loaders=[])

SAMPLE_LEAD = {
    "id": None,
    "email": "jane.doe@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "Example Realty",
    "phone": "+1 512 555 0100",
    "city": "Austin",
    "source": "craigslist",
    "status": "new",
    "tags": ["sample"],
    "attributes": {},
}
LEAD_FIELDS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "city",
    "source",
    "status",
    "tags",
    "attributes",
)


# --- URLs written into messages --------------------------------------------------------


def open_url(token: str) -> str:
    return f"{settings.SITE_URL}/t/o/{token}.gif"


def click_url(token: str, link_id) -> str:
    return f"{settings.SITE_URL}/t/c/{token}/{link_id}"


def unsubscribe_url(token: str) -> str:
    return f"{settings.SITE_URL}/u/{token}/"


# --- Plain-data context -------------------------------------------------------------------


def lead_data(lead=None, recipient=None) -> dict:
    """The `lead` context entry: a Lead's fields and attributes as plain data.

    A recipient whose lead was deleted still renders from its own copy of the address
    and names. With neither, sample data (previews and launch checks)."""
    if lead is not None:
        data = {name: getattr(lead, name) for name in LEAD_FIELDS}
        data["tags"] = list(data["tags"] or [])
        data["attributes"] = dict(data["attributes"] or {})
        return data
    if recipient is not None:
        return {
            **{name: "" for name in LEAD_FIELDS},
            "id": None,
            "tags": [],
            "attributes": {},
            "email": recipient.email_address,
            "first_name": recipient.first_name,
            "last_name": recipient.last_name,
        }
    return {**SAMPLE_LEAD, "tags": list(SAMPLE_LEAD["tags"]), "attributes": {}}


def campaign_data(campaign=None) -> dict:
    if campaign is None:
        return {"name": "Sample campaign", "campaign_id": "camp_000000000000"}
    return {"name": campaign.name, "campaign_id": campaign.campaign_id}


def context_for(*, lead: dict, campaign: dict, unsubscribe: str, view_in_browser: str = "", token: str = "") -> dict:
    """The template context. `token` fills the tracking URLs written into the source by
    `instrument_source` (empty for previews, which carry no tracking)."""
    return {
        "lead": lead,
        "campaign": campaign,
        "unsubscribe_url": unsubscribe,
        "view_in_browser_url": view_in_browser,
        TOKEN_VAR: token,
    }


# --- Validation -------------------------------------------------------------------------------


def _syntax_message(exc: Exception) -> str:
    info = getattr(exc, "template_debug", None)
    message = str(exc)
    if info:
        return f"line {info['line']}: {message}"
    return message


def validate_template_source(*, subject: str, body_html: str, body_text: str = "") -> dict:
    """Compile subject and bodies as Django templates.

    Returns {} when all compile, else {"subject"|"body_html"|"body_text": ["line N: message"]}
    in DRF's validation-error shape, so the caller can raise ValidationError(errors).
    """
    errors = {}
    for field, source, engine in (
        ("subject", subject or "", _DEBUG_TEXT),
        ("body_html", body_html or "", _DEBUG_HTML),
        ("body_text", body_text or "", _DEBUG_TEXT),
    ):
        try:
            engine.from_string(source)
        except TemplateSyntaxError as exc:
            errors[field] = [_syntax_message(exc)]
        except Exception as exc:  # any compile failure is the template's fault
            errors[field] = [str(exc) or exc.__class__.__name__]
    return errors


# --- Compiled message templates ---------------------------------------------------------------


@dataclass
class CompiledMessage:
    """One campaign's (or template's) subject and bodies, compiled once, rendered many times."""

    subject: object
    html: object
    text: object
    inline_css: bool

    def render(self, context: dict) -> dict:
        """{"subject", "html", "text"} for one recipient. Raises what the template raises."""
        ctx = Context(context, autoescape=False)
        subject = clean_subject(self.subject.render(ctx))
        html_body = self.html.render(Context(context))
        if self.inline_css:
            html_body = inline_css(html_body)
        text = self.text.render(ctx)
        return {"subject": subject, "html": html_body, "text": normalise_text(text)}


def compile_message(*, subject: str, body_html: str, body_text: str = "") -> CompiledMessage:
    """Compile the three parts; raise TemplateError with field and line when one fails."""
    errors = validate_template_source(subject=subject, body_html=body_html, body_text=body_text)
    if errors:
        raise TemplateError(_error_sentence(errors))
    text_source = body_text if (body_text or "").strip() else html_to_text(body_html or "")
    try:
        text_template = TEXT_ENGINE.from_string(text_source)
    except TemplateSyntaxError:
        # The HTML's tags did not survive the conversion (e.g. a tag split across an
        # attribute): derive per message from the rendered HTML instead.
        text_template = _DerivedText(HTML_ENGINE.from_string(body_html))
    # CSS inlined into the source once when that is safe, else into each rendered message.
    html_template = None
    inline = needs_inlining(body_html or "")
    if inline:
        inlined = inline_css_source(body_html)
        if inlined is not None:
            try:
                html_template, inline = HTML_ENGINE.from_string(inlined), False
            except TemplateSyntaxError:
                pass
    if html_template is None:
        html_template = HTML_ENGINE.from_string(body_html or "")
    return CompiledMessage(
        subject=TEXT_ENGINE.from_string(subject or ""),
        html=html_template,
        text=text_template,
        inline_css=inline,
    )


class _DerivedText:
    def __init__(self, html_template):
        self.html_template = html_template

    def render(self, ctx):
        return html_to_text(self.html_template.render(Context(ctx.flatten())))


def _error_sentence(errors: dict) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


def message_sources(*, campaign=None, template=None) -> dict:
    """{"subject", "body_html", "body_text"} sources; the campaign's subject overrides the template's."""
    template = template if template is not None else campaign.template
    subject = (campaign.subject if campaign is not None and campaign.subject else "") or template.subject
    return {"subject": subject, "body_html": template.body_html, "body_text": template.body_text}


def check_campaign_renders(*, campaign) -> None:
    """Render `campaign`'s subject and bodies once with sample data; raise
    campaigns.exceptions.TemplateError (400) with the reason when they do not render."""
    if campaign.template_id is None:
        raise TemplateError("The campaign has no template.")
    compiled = compile_message(**message_sources(campaign=campaign))
    context = context_for(
        lead=lead_data(), campaign=campaign_data(campaign), unsubscribe=unsubscribe_url("sample-token")
    )
    try:
        parts = compiled.render(context)
    except Exception as exc:  # any render failure is the template's
        raise TemplateError(f"The template does not render: {exc}") from exc
    if not parts["subject"]:
        raise TemplateError("The subject renders empty.")


def render_preview(*, template, lead=None, campaign=None) -> dict:
    """{"subject", "html", "text"} of `template` rendered for `lead` (sample data when None),
    exactly as a recipient would get it (minus tracking)."""
    compiled = compile_message(**message_sources(campaign=campaign, template=template))
    context = context_for(
        lead=lead_data(lead), campaign=campaign_data(campaign), unsubscribe=unsubscribe_url("preview")
    )
    try:
        return compiled.render(context)
    except Exception as exc:
        raise TemplateError(f"The template does not render: {exc}") from exc


# --- Post-processing -----------------------------------------------------------------------

_WS = re.compile(r"\s+")


def clean_subject(subject: str) -> str:
    """One line: CR/LF (header injection) and runs of whitespace become single spaces."""
    return _WS.sub(" ", subject).strip()


_STYLE = re.compile(r"<style\b|<link\b[^>]*stylesheet", re.IGNORECASE)
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def needs_inlining(body_html: str) -> bool:
    return bool(_STYLE.search(body_html))


def inline_css(body_html: str) -> str:
    return _INLINER.inline(body_html)


_TOKEN = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_RAW_TEXT = re.compile(r"<(style|script)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<!--ftph(\d+)x-->|ftph(\d+)x")


def inline_css_source(source: str) -> str | None:
    """The template source with its CSS inlined once, or None when that is not safe.

    Template tags are hidden from the HTML parser first: in text as comments
    (`<!--ftph3x-->`, which the parser never moves, unlike text inside a <table>), inside
    quoted attribute values and comments as plain words. A tag in a <style> block or
    between attributes, or any placeholder that does not come back exactly once and in
    order, means "inline per message instead"."""
    spans = [m.span() for m in _COMMENT.finditer(source)]
    raw = [m.span() for m in _RAW_TEXT.finditer(source)]
    tokens, parts, last = [], [], 0
    for m in _TOKEN.finditer(source):
        start = m.start()
        if any(a <= start < b for a, b in raw):
            return None
        n = len(tokens)
        tokens.append(m.group(0))
        lt, gt = source.rfind("<", 0, start), source.rfind(">", 0, start)
        if any(a <= start < b for a, b in spans):
            placeholder = f"ftph{n}x"
        elif lt > gt:  # inside a tag: only a quoted attribute value is safe
            inside = source[lt:start]
            if inside.count('"') % 2 == 0 and inside.count("'") % 2 == 0:
                return None
            placeholder = f"ftph{n}x"
        else:
            placeholder = f"<!--ftph{n}x-->"
        parts += [source[last:start], placeholder]
        last = m.end()
    parts.append(source[last:])
    inlined = inline_css("".join(parts))
    seen = []

    def restore(match):
        n = int(match.group(1) or match.group(2))
        seen.append(n)
        return tokens[n] if n < len(tokens) else match.group(0)

    restored = _PLACEHOLDER.sub(restore, inlined)
    return restored if seen == list(range(len(tokens))) else None


_BLANKS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """LF line ends, no trailing spaces, at most one blank line in a row, one final LF.
    (The derived text template is normalised already; most renders take the fast path.)"""
    if "\r" not in text and " \n" not in text and "\n\n\n" not in text:
        text = text.strip("\n")
        return text + "\n" if not text.endswith(" ") else text.rstrip() + "\n"
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip() + "\n"


class _TextExtractor(HTMLParser):
    BLOCK = {
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "table",
        "tr",
        "ul",
        "ol",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "hr",
        "center",
        "main",
        "nav",
        "aside",
        "form",
        "dl",
        "dt",
        "dd",
    }
    SKIP = {"script", "style", "head", "title", "noscript", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip = 0
        self.links = []  # stack of (href, start index in out)
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in self.BLOCK:
            self.out.append("\n\n" if tag in ("p", "h1", "h2", "h3", "table", "hr") else "\n")
            if tag == "pre":
                self.pre += 1
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(alt)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in self.SKIP:
            self.skip -= 1

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.out[start:]).strip()
            if href and not href.startswith("#") and href != label:
                target = href[7:] if href.startswith("mailto:") else href
                if label and target != label:
                    self.out.append(f" ({href if not href.startswith('mailto:') else target})")
                elif not label:
                    self.out.append(href)
        elif tag in self.BLOCK:
            self.out.append("\n")
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data):
        if self.skip:
            return
        self.out.append(data if self.pre else _WS.sub(" ", data))

    def text(self):
        lines = (line.strip() for line in "".join(self.out).split("\n"))
        return _BLANKS.sub("\n\n", "\n".join(lines)).strip() + "\n"


def html_to_text(body_html: str) -> str:
    """A readable plain-text version: links as "text (url)", block elements on their own
    lines, list items as "- ", scripts/styles/head dropped, entities decoded."""
    parser = _TextExtractor()
    parser.feed(body_html)
    parser.close()
    return parser.text()


# --- Instrumenting ---------------------------------------------------------------------------
#
# Tracking is written into the template *source* once per campaign where it can be: every
# static http(s) href becomes `<SITE_URL>/t/c/{{ fliptech_token }}/<link id>`, and the pixel
# `<SITE_URL>/t/o/{{ fliptech_token }}.gif` goes before </body>; the recipient's token is
# then just one more context variable. Only URLs built by the template itself ("dynamic",
# e.g. `href="https://x.example/{{ lead.id }}"`) are rewritten per message, after rendering.

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


def find_links(body_html: str, body_text: str, *, token: str) -> set:
    """Every http(s) URL linked from the rendered HTML (<a>/<area> href, entities decoded)
    or written in the text part, except the unsubscribe link and our own tracking URLs."""
    skip = _own_prefixes(token)
    urls = {html.unescape(m.group(3)).strip() for m in _HREF.finditer(body_html)}
    urls.update(_text_url(m) for m in _TEXT_URL.finditer(body_text))
    return {u for u in urls if _trackable(u, skip)}


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


def add_open_pixel(body_html: str, token: str) -> str:
    """A 1×1 image just before the last </body> (or at the end)."""
    pixel = (
        f'<img src="{open_url(token)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px" />'
    )
    at = body_html.rfind("</body")
    if at < 0:
        at = body_html.lower().rfind("</body")
    if at < 0:
        return body_html + pixel
    return body_html[:at] + pixel + body_html[at:]
