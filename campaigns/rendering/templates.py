"""Template compilation and validation: the sandboxed engines, `validate_template_source`,
`CompiledMessage` / `compile_message` (compiled once per campaign, rendered per recipient),
and the launch check and preview built on them."""

from dataclasses import dataclass

from django.template import Context, Engine, TemplateSyntaxError

from ..exceptions import TemplateError
from .context import campaign_data, context_for, lead_data
from .css import inline_css, inline_css_source, needs_inlining
from .links import unsubscribe_url
from .text import clean_subject, html_to_text, normalise_text

# Compile-time checks: debug on, so syntax errors carry their line.
_DEBUG_HTML = Engine(debug=True, autoescape=True, loaders=[])
_DEBUG_TEXT = Engine(debug=True, autoescape=False, loaders=[])
# Sending: the same engines without the debug bookkeeping.
HTML_ENGINE = Engine(autoescape=True, loaders=[])
TEXT_ENGINE = Engine(autoescape=False, loaders=[])

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
