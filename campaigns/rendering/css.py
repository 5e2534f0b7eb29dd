"""CSS inlining with css-inline: per rendered message (`inline_css`), or once into the
template source when the template tags can be kept out of the HTML parser's way
(`inline_css_source`)."""

import re

import css_inline

_STYLE = re.compile(r"<style\b|<link\b[^>]*stylesheet", re.IGNORECASE)
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)  # @media rules stay


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
