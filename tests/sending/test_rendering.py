"""Templates compile with line numbers, render from plain data only, and produce both parts."""

import pytest

from campaigns import rendering
from campaigns.exceptions import TemplateError
from tests.factories import CampaignFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_validate_template_source_accepts_valid_templates():
    assert (
        rendering.validate_template_source(
            subject="Hi {{ lead.first_name }}", body_html="<p>{% if lead.city %}{{ lead.city }}{% endif %}</p>"
        )
        == {}
    )


def test_validate_template_source_reports_field_and_line():
    errors = rendering.validate_template_source(
        subject="{% if %}", body_html="<p>fine</p>\n<p>\n{% for x in %}</p>", body_text="{% endfor %}"
    )
    assert set(errors) == {"subject", "body_html", "body_text"}
    assert errors["body_html"][0].startswith("line 3: ")
    assert errors["subject"][0].startswith("line 1: ")


def test_template_cannot_load_libraries_or_include_files():
    assert "body_html" in rendering.validate_template_source(subject="x", body_html="{% load static %}")
    template = EmailTemplateFactory(body_html='{% include "admin/base.html" %}')
    with pytest.raises(TemplateError):
        rendering.render_preview(template=template)


def test_template_sees_plain_data_not_models():
    lead = LeadFactory(first_name="Ann", attributes={"listing": "3BR house"})
    template = EmailTemplateFactory(
        subject="{{ lead.first_name }}",
        body_html="<p>{{ lead.attributes.listing }}|{{ lead.save }}|{{ lead.campaign_recipients }}|"
        "{{ campaign.created_by }}|{{ settings.SECRET_KEY }}</p>",
    )
    out = rendering.render_preview(template=template, lead=lead)
    assert out["html"] == "<p>3BR house||||</p>"


def test_html_is_autoescaped_but_subject_and_text_are_not():
    lead = LeadFactory(first_name="<b>Bo & Co</b>")
    template = EmailTemplateFactory(
        subject="For {{ lead.first_name }}",
        body_html="<p>{{ lead.first_name }}</p>",
        body_text="Hi {{ lead.first_name }}",
    )
    out = rendering.render_preview(template=template, lead=lead)
    assert out["subject"] == "For <b>Bo & Co</b>"
    assert out["html"] == "<p>&lt;b&gt;Bo &amp; Co&lt;/b&gt;</p>"
    assert out["text"] == "Hi <b>Bo & Co</b>\n"


def test_subject_never_contains_line_breaks():
    lead = LeadFactory(first_name="Eve\r\nBcc: victim@example.com")
    template = EmailTemplateFactory(subject="Hello\n{{ lead.first_name }}")
    out = rendering.render_preview(template=template, lead=lead)
    assert "\r" not in out["subject"] and "\n" not in out["subject"]
    assert out["subject"] == "Hello Eve Bcc: victim@example.com"


def test_text_part_is_derived_from_html_when_empty():
    template = EmailTemplateFactory(
        subject="s",
        body_html="<html><head><title>x</title><style>p{color:red}</style></head><body>"
        '<h1>Hello {{ lead.first_name }}</h1><p>See <a href="https://a.example/o?x=1&amp;y=2">'
        'the offer</a> or <a href="mailto:hi@a.example">write</a>.</p>'
        "<ul>{% for t in lead.tags %}<li>{{ t }}</li>{% endfor %}</ul>"
        "<script>alert(1)</script><p>Bye<br>now</p></body></html>",
        body_text="",
    )
    lead = LeadFactory(first_name="Ann", tags=["one", "two"])
    text = rendering.render_preview(template=template, lead=lead)["text"]
    assert text == (
        "Hello Ann\n\nSee the offer (https://a.example/o?x=1&y=2) or write (hi@a.example).\n\n"
        "- one\n- two\n\nBye\nnow\n"
    )


def test_css_is_inlined_and_the_style_block_kept_for_media_queries():
    template = EmailTemplateFactory(
        body_html="<html><head><style>p.x{color:red} @media (max-width: 600px) { p.x { width: 100% } }</style>"
        '</head><body><p class="x">Hi</p></body></html>'
    )
    html = rendering.render_preview(template=template)["html"]
    assert 'style="color: red;"' in html
    assert "<style>" in html and "@media (max-width: 600px)" in html


def test_preview_uses_sample_data_and_campaign_subject():
    template = EmailTemplateFactory(subject="Template subject {{ lead.first_name }}")
    campaign = CampaignFactory(
        template=template, subject="Campaign {{ campaign.name }} for {{ lead.first_name }}", name="Spring"
    )
    out = rendering.render_preview(template=template, campaign=campaign)
    assert out["subject"] == "Campaign Spring for Jane"
    assert "/u/preview/" in out["html"]


def test_check_campaign_renders_passes_for_a_good_template():
    rendering.check_campaign_renders(campaign=CampaignFactory())


def test_check_campaign_renders_raises_for_syntax_error_with_line():
    campaign = CampaignFactory(template=EmailTemplateFactory(body_html="<p>ok</p>\n{% if %}"))
    with pytest.raises(TemplateError) as info:
        rendering.check_campaign_renders(campaign=campaign)
    assert "body_html: line 2" in str(info.value)


def test_check_campaign_renders_raises_without_template():
    with pytest.raises(TemplateError):
        rendering.check_campaign_renders(campaign=CampaignFactory(template=None))


def test_check_campaign_renders_raises_when_subject_renders_empty():
    campaign = CampaignFactory(template=EmailTemplateFactory(subject="{{ lead.nothing }}"))
    with pytest.raises(TemplateError):
        rendering.check_campaign_renders(campaign=campaign)


def test_url_builders_are_absolute_from_site_url(settings):
    settings.SITE_URL = "https://mail.example.com"
    assert rendering.open_url("tok") == "https://mail.example.com/t/o/tok.gif"
    assert rendering.click_url("tok", 7) == "https://mail.example.com/t/c/tok/7"
    assert rendering.unsubscribe_url("tok") == "https://mail.example.com/u/tok/"


STYLED = (
    "<html><head><style>td{color:red} .x{font-weight:bold}</style></head><body>"
    '<table>{% for t in lead.tags %}<tr><td class="x">{{ t }}</td></tr>{% endfor %}</table>'
    '<p title="{{ lead.first_name }}">{% if lead.city %}{{ lead.city }}{% endif %}</p>'
    "<!-- note {{ lead.email }} --></body></html>"
)


def test_css_is_inlined_once_into_the_source_when_safe():
    compiled = rendering.compile_message(subject="s", body_html=STYLED)
    assert compiled.inline_css is False  # no per-message inlining needed
    ctx = rendering.context_for(lead={**rendering.SAMPLE_LEAD, "tags": ["a", "b"]}, campaign={}, unsubscribe="u")
    html = compiled.render(ctx)["html"]
    per_message = rendering.inline_css(rendering.HTML_ENGINE.from_string(STYLED).render(rendering.Context(ctx)))

    # Same document; the parser may open a <tbody> per loop turn (its end tag is optional).
    def untbody(h):
        return h.replace("<tbody>", "").replace("</tbody>", "")

    assert untbody(html) == untbody(per_message)
    assert html.count('<td class="x" style="color: red;font-weight: bold;">') == 2


@pytest.mark.parametrize(
    "body_html",
    [
        "<html><head><style>p{color:{{ lead.attributes.color|default:'red' }}}</style></head><body><p>x</p></body></html>",
        '<html><head><style>p{color:red}</style></head><body><p {% if lead.city %}class="c"{% endif %}>x</p></body></html>',
    ],
)
def test_css_falls_back_to_per_message_inlining_when_the_source_is_not_safe(body_html):
    compiled = rendering.compile_message(subject="s", body_html=body_html)
    assert compiled.inline_css is True
    html = compiled.render(rendering.context_for(lead=rendering.lead_data(), campaign={}, unsubscribe="u"))["html"]
    assert "color: red" in html and html.count("<style>") == 1
