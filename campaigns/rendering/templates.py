"""Template compilation and validation: the sandboxed engines, `validate_template_source`,
`CompiledMessage` / `compile_message` (compiled once per campaign, rendered per recipient),
and the launch check and preview built on them."""

from dataclasses import dataclass

from django.template import Context, Engine, TemplateSyntaxError

from ..exceptions import TemplateError, TemplateTooCostly
from . import budget
from .budget import Budget, BudgetContext
from .context import campaign_data, context_for, lead_data
from .css import inline_css, inline_css_source, needs_inlining
from .links import unsubscribe_url
from .text import clean_subject, html_to_text, normalise_text

# Django's builtins, with the few that could outgrow the render budget in one call bounded.
_BUILTINS = ["campaigns.rendering.limits"]
# Compile-time checks: debug on, so syntax errors carry their line.
_DEBUG_HTML = Engine(debug=True, autoescape=True, loaders=[], builtins=_BUILTINS)
_DEBUG_TEXT = Engine(debug=True, autoescape=False, loaders=[], builtins=_BUILTINS)
# Sending: the same engines without the debug bookkeeping.
HTML_ENGINE = Engine(autoescape=True, loaders=[], builtins=_BUILTINS)
TEXT_ENGINE = Engine(autoescape=False, loaders=[], builtins=_BUILTINS)


def _compile(engine, source: str):
    """A template of `engine` whose every node checks the render budget (budget.guard)."""
    return budget.guard(engine.from_string(source))


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
    # Hosts a link built at render time may be tracked for (links.link_hosts); set by the sender.
    link_hosts: frozenset = frozenset()

    def render(self, context: dict) -> dict:
        """{"subject", "html", "text"} for one recipient, within the render budget
        (TEMPLATE_RENDER_TIMEOUT, TEMPLATE_MAX_BYTES). Raises TemplateTooCostly over it and
        TemplateError for any other failure, each naming the part and line, never a value."""
        allowance = Budget()
        try:
            allowance.part = "subject"
            ctx = BudgetContext(context, budget=allowance, autoescape=False)
            subject = clean_subject(self.subject.render(ctx))
            allowance.part = "body_html"
            html_body = self.html.render(BudgetContext(context, budget=allowance))
            if self.inline_css:
                before = len(html_body)
                html_body = inline_css(html_body)
                allowance.charge(len(html_body) - before)
                allowance.check_time()
            allowance.part = "body_text"
            text = self.text.render(ctx)
            allowance.part = "message"
            # Characters were counted while rendering; bytes differ only past ASCII (≤ 4 each).
            if 4 * (len(subject) + len(html_body) + len(text)) > allowance.limit > 0:
                if sum(len(part.encode("utf-8", "surrogatepass")) for part in (subject, html_body, text)) > (
                    allowance.limit
                ):
                    raise allowance.too_big()
        except Exception as exc:
            # `from None`: the original's text (and traceback locals) may quote the context.
            raise budget.failure(exc, allowance.part) from None
        return {"subject": subject, "html": html_body, "text": normalise_text(text)}


def compile_message(*, subject: str, body_html: str, body_text: str = "") -> CompiledMessage:
    """Compile the three parts; raise TemplateError with field and line when one fails."""
    errors = validate_template_source(subject=subject, body_html=body_html, body_text=body_text)
    if errors:
        raise TemplateError(_error_sentence(errors))
    text_source = body_text if (body_text or "").strip() else html_to_text(body_html or "")
    try:
        text_template = _compile(TEXT_ENGINE, text_source)
    except TemplateSyntaxError:
        # The HTML's tags did not survive the conversion (e.g. a tag split across an
        # attribute): derive per message from the rendered HTML instead.
        text_template = _DerivedText(_compile(HTML_ENGINE, body_html))
    # CSS inlined into the source once when that is safe, else into each rendered message.
    html_template = None
    inline = needs_inlining(body_html or "")
    if inline:
        inlined = inline_css_source(body_html)
        if inlined is not None:
            try:
                html_template, inline = _compile(HTML_ENGINE, inlined), False
            except TemplateSyntaxError:
                pass
    if html_template is None:
        html_template = _compile(HTML_ENGINE, body_html or "")
    return CompiledMessage(
        subject=_compile(TEXT_ENGINE, subject or ""),
        html=html_template,
        text=text_template,
        inline_css=inline,
    )


class _DerivedText:
    def __init__(self, html_template):
        self.html_template = html_template

    def render(self, ctx):
        allowance = getattr(ctx, "budget", None)
        if allowance is None:
            return html_to_text(self.html_template.render(Context(ctx.flatten())))
        return html_to_text(self.html_template.render(BudgetContext(ctx.flatten(), budget=allowance)))


def _error_sentence(errors: dict) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


def message_sources(*, campaign=None, template=None) -> dict:
    """{"subject", "body_html", "body_text"} sources; the campaign's subject overrides the template's."""
    template = template if template is not None else campaign.template
    subject = (campaign.subject if campaign is not None and campaign.subject else "") or template.subject
    return {"subject": subject, "body_html": template.body_html, "body_text": template.body_text}


def check_campaign_renders(*, campaign, leads=(), recipients=()) -> None:
    """Render `campaign`'s subject and bodies with sample data, then for each of `leads` and
    `recipients` (a test send's lead, the first pending recipients at launch: a template may
    loop only for real data); raise campaigns.exceptions.TemplateError (400) with the reason
    when they do not render, TemplateTooCostly (400) when over the render budget."""
    if campaign.template_id is None:
        raise TemplateError("The campaign has no template.")
    compiled = compile_message(**message_sources(campaign=campaign))
    data = campaign_data(campaign)
    people = [lead_data(), *(lead_data(lead) for lead in leads), *(lead_data(r.lead, r) for r in recipients)]
    for index, person in enumerate(people):
        parts = compiled.render(  # TemplateError / TemplateTooCostly, told without data
            context_for(lead=person, campaign=data, unsubscribe=unsubscribe_url("sample-token"))
        )
        if index == 0 and not parts["subject"]:
            raise TemplateError("The subject renders empty.")


def check_render_budget(*, subject: str, body_html: str, body_text: str = "") -> None:
    """Raise TemplateTooCostly when the sources, rendered with sample data, are over the
    render budget (a template is refused on save already). Other render failures are left
    to the preview and the launch check, which say them with the real context."""
    try:
        compiled = compile_message(subject=subject, body_html=body_html, body_text=body_text)
        compiled.render(context_for(lead=lead_data(), campaign=campaign_data(), unsubscribe=unsubscribe_url("sample")))
    except TemplateTooCostly:
        raise
    except TemplateError:
        pass


def render_preview(*, template, lead=None, campaign=None) -> dict:
    """{"subject", "html", "text"} of `template` rendered for `lead` (sample data when None),
    exactly as a recipient would get it (minus tracking)."""
    compiled = compile_message(**message_sources(campaign=campaign, template=template))
    context = context_for(
        lead=lead_data(lead), campaign=campaign_data(campaign), unsubscribe=unsubscribe_url("preview")
    )
    return compiled.render(context)  # TemplateError / TemplateTooCostly, told without data
