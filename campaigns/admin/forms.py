"""Admin form fields and forms that clean input with the API's functions
(`campaigns.lead_input`, `fliptech.text`): one set of input rules, two doors."""

import json

from django import forms
from django.core.exceptions import ValidationError

from fliptech.text import has_line_break

from ..lead_input import EMAIL_TAKEN, LEAD_TEXT_FIELDS, clean_attributes, clean_email, clean_field, email_taken
from ..models import Lead, Suppression


def one_line(value):
    """A form validator: refuse CR, LF and other line separators (a mail header value)."""
    if isinstance(value, str) and has_line_break(value):
        raise ValidationError("Line breaks are not allowed here.", code="line_break")


def one_line_fields(form: forms.BaseForm, *names: str) -> None:
    """Add `one_line` to those of `names` the form edits (read-only ones are not fields)."""
    for name in names:
        if name in form.fields:
            form.fields[name].validators.append(one_line)


def _field_error(exc: ValueError) -> ValidationError:
    text = str(exc).rstrip(".")
    return ValidationError(text[:1].upper() + text[1:] + ".")


class TagsField(forms.CharField):
    """Tags as one line, separated by commas (or semicolons, as a CSV cell): `vip, roofing`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Separated by commas, e.g. “vip, roofing”.")
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 60, "placeholder": "vip, roofing"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(tag) for tag in value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        tags = [part.strip() for part in text.replace(";", ",").split(",")]
        try:
            return clean_field("tags", [tag for tag in tags if tag])
        except ValueError as exc:
            raise _field_error(exc) from None


class AttributesField(forms.CharField):
    """Attributes as `key: value` lines (values kept as text, as a CSV import stores them) or
    as one JSON object (for numbers, booleans, lists). Shown as lines when every value is a
    one-line string, else as JSON, so that saving the page unchanged changes nothing."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            'One “key: value” per line, or a JSON object such as {"employees": 12, "vip": true}.',
        )
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 5, "cols": 60, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if not isinstance(value, dict):
            return value

        def line_safe(text):
            return isinstance(text, str) and text == text.strip() and not has_line_break(text)

        keys_ok = all(line_safe(k) and k and ":" not in k for k in value) and not next(iter(value), "").startswith("{")
        if keys_ok and all(line_safe(v) for v in value.values()):
            return "\n".join(f"{k}: {v}" for k, v in value.items())
        return json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        text = super().to_python(value).strip()
        data = self._parse_json(text) if text.startswith("{") else self._parse_lines(text)
        try:
            return clean_attributes(data)
        except ValueError as exc:
            raise ValidationError(f"Attributes {exc}.") from None

    @staticmethod
    def _parse_json(text: str) -> dict:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"Not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise ValidationError("Enter a JSON object ({…}) or “key: value” lines.")
        return data

    @staticmethod
    def _parse_lines(text: str) -> dict:
        data = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, val = line.partition(":")
            key = key.strip()
            if not sep or not key:
                raise ValidationError(f"Line {number}: write “key: value”.")
            if key in data:
                raise ValidationError(f"Line {number}: “{key}” is given twice.")
            data[key] = val.strip()
        return data


class LeadForm(forms.ModelForm):
    """The lead form, cleaned by the API's rules (`campaigns.lead_input`)."""

    tags = TagsField()
    attributes = AttributesField()

    class Meta:
        model = Lead
        fields = "__all__"

    def clean_email(self):
        try:
            email = clean_email(self.cleaned_data.get("email"))
        except ValueError as exc:
            raise _field_error(exc) from None
        if email_taken(email, exclude_pk=self.instance.pk):
            raise ValidationError(EMAIL_TAKEN, code="unique")
        return email

    def clean(self):
        cleaned = super().clean()
        for name in LEAD_TEXT_FIELDS:
            if name in cleaned and cleaned[name] is not None:
                try:
                    cleaned[name] = clean_field(name, cleaned[name])
                except ValueError as exc:
                    self.add_error(name, _field_error(exc))
        return cleaned


class SuppressionForm(forms.ModelForm):
    """Addresses are stored lower-cased: the unique check must see them so."""

    class Meta:
        model = Suppression
        fields = "__all__"

    def clean_email(self):
        try:
            return clean_email(self.cleaned_data.get("email"))
        except ValueError as exc:
            raise _field_error(exc) from None
