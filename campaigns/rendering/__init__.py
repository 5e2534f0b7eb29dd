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

A package by concern; callers import everything from `campaigns.rendering`:
- `templates` — the engines, validation, `CompiledMessage`/`compile_message`, launch check, preview;
- `budget` — the render budget (time, size) every compiled template carries, safe error messages;
- `limits` — the builtin filters and tags bounded by the budget (`ljust`, `lorem`, …);
- `context` — the plain-data context (`lead_data`, `campaign_data`, `context_for`, `SAMPLE_LEAD`);
- `links` — tracking URLs and link/pixel instrumentation (`instrument_source`, `find_links`, …);
- `css` — CSS inlining, per message or once into the source;
- `text` — subject cleaning, text normalisation, `html_to_text`.
"""

from django.template import Context

from .context import LEAD_FIELDS, MERGE_TAGS, SAMPLE_LEAD, campaign_data, context_for, lead_data, merge_tags
from .css import inline_css, inline_css_source, needs_inlining
from .links import (
    TOKEN_TAG,
    TOKEN_VAR,
    add_open_pixel,
    click_url,
    find_links,
    instrument_source,
    link_hosts,
    open_url,
    rewrite_links,
    unsubscribe_url,
    view_in_browser_url,
    without_open_pixel,
)
from .templates import (
    HTML_ENGINE,
    TEXT_ENGINE,
    CompiledMessage,
    check_campaign_renders,
    check_render_budget,
    compile_message,
    message_sources,
    render_preview,
    validate_template_source,
)
from .text import clean_subject, html_to_text, normalise_text

__all__ = [
    "HTML_ENGINE",
    "LEAD_FIELDS",
    "MERGE_TAGS",
    "SAMPLE_LEAD",
    "TEXT_ENGINE",
    "TOKEN_TAG",
    "TOKEN_VAR",
    "CompiledMessage",
    "Context",
    "add_open_pixel",
    "campaign_data",
    "check_campaign_renders",
    "check_render_budget",
    "clean_subject",
    "click_url",
    "compile_message",
    "context_for",
    "find_links",
    "html_to_text",
    "inline_css",
    "inline_css_source",
    "instrument_source",
    "lead_data",
    "link_hosts",
    "merge_tags",
    "message_sources",
    "needs_inlining",
    "normalise_text",
    "open_url",
    "render_preview",
    "rewrite_links",
    "unsubscribe_url",
    "validate_template_source",
    "view_in_browser_url",
    "without_open_pixel",
]
