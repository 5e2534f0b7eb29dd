"""The checklist's content checks: recipients, template_renders, subject, unsubscribe_link,
text_part, images, links, tracking_https. The message is rendered once, as the first pending
recipient gets it (sample data without one), minus tracking (the template preview's path).

Levels (docs/deliverability.md):
- recipients: error without a pending recipient; warning when some pending addresses are risky.
- template_renders: error without a template, or when it does not render (for sample data or
  the first pending recipients, as launch renders it).
- subject: error when it renders empty; warning over 100 characters, or shouting (mostly
  capitals, `!!`).
- unsubscribe_link: warning when only the List-Unsubscribe header has one (the body lacks
  `{{ unsubscribe_url }}`).
- text_part: warning when the plain-text part (written, or derived from the HTML) has fewer
  than 5 words.
- images: warning for an image-only message (images, under 20 words of text) and for images
  without `alt`.
- links: warning for links with no target, `javascript:`, an unknown scheme, plain http, or a
  URL shortener (filters distrust them); our own links on SITE_URL are tracking_https's.
- tracking_https: warning unless SITE_URL is https (tracking, unsubscribe and view-in-browser
  links are on it).
"""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, Q

from .. import rendering
from ..exceptions import TemplateError, TemplateTooCostly
from ..models import CampaignRecipient
from . import ERROR, OK, WARNING, Check

SHORTENERS = frozenset(
    "bit.ly goo.gl tinyurl.com t.co ow.ly is.gd buff.ly cutt.ly rebrand.ly shorturl.at tiny.cc rb.gy".split()
)
SUBJECT_MAX = 100
# The message is rendered for this many pending recipients beside the sample data (a template
# may loop only for real data), as launch always did.
RENDER_CHECK_RECIPIENTS = 3
_WORD = re.compile(r"\w+", re.UNICODE)


class _Scan(HTMLParser):
    """Links, images and visible text of an HTML body."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.images, self.text, self._skip = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("style", "script", "head", "title"):
            self._skip += 1
        elif tag in ("a", "area"):
            self.links.append(attrs.get("href"))
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


_URL = re.compile(r"\S+://\S+")


def _words(text: str) -> int:
    """Words a reader reads: URLs (the derived text lists every link's) are not."""
    return len(_WORD.findall(_URL.sub(" ", text)))


def _recipients(campaign) -> tuple[Check, list]:
    pending = CampaignRecipient.Status.PENDING
    counts = campaign.recipients.aggregate(
        pending=Count("pk", filter=Q(status=pending)),
        risky=Count("pk", filter=Q(status=pending, lead__email_status="risky")),
    )
    if not counts["pending"]:
        return Check("recipients", ERROR, "The campaign has no pending recipients; add some first."), []
    first = list(
        campaign.recipients.filter(status=pending).select_related("lead").order_by("pk")[:RENDER_CHECK_RECIPIENTS]
    )
    message = f"{counts['pending']} pending recipient(s)."
    if counts["risky"]:
        return Check(
            "recipients",
            WARNING,
            f"{message} {counts['risky']} of them are risky addresses (role accounts or disposable domains).",
        ), first
    return Check("recipients", OK, message), first


def _subject(subject: str) -> Check:
    if not subject.strip():
        return Check("subject", ERROR, "The subject renders empty.")
    if len(subject) > SUBJECT_MAX:
        return Check("subject", WARNING, f"The subject has {len(subject)} characters; most clients show about 60.")
    letters = [ch for ch in subject if ch.isalpha()]
    if "!!" in subject or (len(letters) >= 8 and sum(ch.isupper() for ch in letters) > 0.7 * len(letters)):
        return Check("subject", WARNING, "The subject shouts (capitals or '!!'): spam filters score that.")
    return Check("subject", OK, "The subject is set.")


def _unsubscribe(parts) -> Check:
    url = rendering.unsubscribe_url("preview")
    if url in parts["html"] or url in parts["text"]:
        return Check("unsubscribe_link", OK, "The message has an unsubscribe link (and the List-Unsubscribe header).")
    return Check(
        "unsubscribe_link",
        WARNING,
        "Only the List-Unsubscribe header has an unsubscribe link; add {{ unsubscribe_url }} to the body.",
    )


def _text_part(campaign, parts) -> Check:
    words = _words(parts["text"])
    written = bool((campaign.template.body_text or "").strip())
    if words < 5:
        return Check("text_part", WARNING, f"The plain-text part has {words} word(s); write one that reads alone.")
    origin = "written" if written else "derived from the HTML"
    return Check("text_part", OK, f"The plain-text part ({origin}) has {words} words.")


def _images(scan: _Scan) -> Check:
    if not scan.images:
        return Check("images", OK, "No images.")
    problems = []
    if _words(" ".join(scan.text)) < 20:
        problems.append("the message is (almost) only images")
    no_alt = sum(1 for img in scan.images if not (img.get("alt") or "").strip())
    if no_alt:
        problems.append(f"{no_alt} image(s) without alt text")
    if problems:
        return Check("images", WARNING, "Images: " + "; ".join(problems) + ".")
    return Check("images", OK, f"{len(scan.images)} image(s), each with alt text.")


def _link_problem(href) -> str | None:
    href = (href or "").strip()
    if not href or href == "#":
        return "a link without a target"
    parts = urlsplit(href)
    scheme = parts.scheme.lower()
    if scheme == "javascript":
        return "a javascript: link"
    if scheme in ("mailto", "tel", "sms"):
        return None
    if scheme not in ("http", "https"):
        return f"a link that is not a web address ({href[:60]})"
    host = (parts.hostname or "").lower()
    if host in SHORTENERS:
        return f"a URL shortener ({host})"
    if scheme == "http":
        return f"a plain http link ({host})"
    return None


def _links(scan: _Scan) -> Check:
    # Our own links (unsubscribe, view in browser) are tracking_https's business.
    theirs = [href for href in scan.links if not (href or "").startswith(settings.SITE_URL + "/")]
    found = [p for p in map(_link_problem, theirs) if p]
    if found:
        shown = sorted(set(found))[:5]
        return Check("links", WARNING, f"{len(found)} link(s) to look at: " + "; ".join(shown) + ".")
    return Check("links", OK, f"{len(scan.links)} link(s), all https or mailto.")


def _tracking_https() -> Check:
    if settings.SITE_URL.startswith("https://"):
        return Check("tracking_https", OK, f"Tracking and unsubscribe links use https ({settings.SITE_URL}).")
    return Check(
        "tracking_https",
        WARNING,
        f"SITE_URL is not https ({settings.SITE_URL}): tracking and unsubscribe links look unsafe to clients.",
    )


def checks(campaign, *, raise_too_costly: bool) -> dict:
    """{code: Check} of the content checks, plus "_rendered": the rendered parts (or None)."""
    found = {}
    found["recipients"], first = _recipients(campaign)
    found["tracking_https"] = _tracking_https()
    parts = None
    if campaign.template_id is None:
        found["template_renders"] = Check("template_renders", ERROR, "The campaign has no template; choose one.")
    else:
        try:
            rendering.check_campaign_renders(campaign=campaign, recipients=first)
            parts = rendering.render_preview(
                template=campaign.template, lead=first[0].lead if first else None, campaign=campaign
            )
            found["template_renders"] = Check("template_renders", OK, "The template renders.")
        except TemplateTooCostly as exc:
            if raise_too_costly:
                raise
            found["template_renders"] = Check("template_renders", ERROR, exc.message)
        except TemplateError as exc:
            if exc.message == "The subject renders empty.":
                found["subject"] = _subject("")
                found["template_renders"] = Check("template_renders", OK, "The bodies render.")
            else:
                found["template_renders"] = Check(
                    "template_renders", ERROR, f"The template does not render: {exc.message}"
                )
    if parts is not None:
        scan = _Scan()
        scan.feed(parts["html"])
        found["subject"] = _subject(parts["subject"])
        found["unsubscribe_link"] = _unsubscribe(parts)
        found["text_part"] = _text_part(campaign, parts)
        found["images"] = _images(scan)
        found["links"] = _links(scan)
    else:
        for code in ("subject", "unsubscribe_link", "text_part", "images", "links"):
            found.setdefault(code, Check(code, WARNING, "Not checked: the template does not render."))
    found["_rendered"] = parts
    return found
