"""Template → message. (Interface agreed between the API and sending work; the
sending engine fills in the bodies.)"""


def validate_template_source(*, subject: str, body_html: str, body_text: str = "") -> dict:
    """Compile subject and bodies as Django templates.

    Returns {} when all compile, else {"subject"|"body_html"|"body_text": ["line N: message"]}
    in DRF's validation-error shape, so the caller can raise ValidationError(errors).
    """
    raise NotImplementedError


def check_campaign_renders(*, campaign) -> None:
    """Render `campaign`'s subject and bodies once with sample data; raise
    campaigns.exceptions.TemplateError (400) with the reason when they do not render."""
    raise NotImplementedError


def render_preview(*, template, lead=None, campaign=None) -> dict:
    """{"subject", "html", "text"} of `template` rendered for `lead` (sample data when None),
    exactly as a recipient would get it (minus tracking)."""
    raise NotImplementedError
