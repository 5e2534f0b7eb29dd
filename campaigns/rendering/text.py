"""Plain-text post-processing: the one-line subject, text-part normalisation, and the
readable text part derived from HTML (`html_to_text`)."""

import re
from html.parser import HTMLParser

_WS = re.compile(r"\s+")


def clean_subject(subject: str) -> str:
    """One line: CR/LF (header injection) and runs of whitespace become single spaces."""
    return _WS.sub(" ", subject).strip()


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
