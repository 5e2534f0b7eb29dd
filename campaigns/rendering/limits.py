"""Template builtins for campaign templates that could otherwise make more than the whole
render budget in one call (the budget's guard checks between nodes, not inside a filter):
each is Django's own, refused (`TemplateTooCostly`) when asked for more than
`TEMPLATE_MAX_BYTES` characters. And `{% debug %}` (a dump of the context and the
server's modules) is not available.

Loaded as a builtin library of the campaign engines (`templates.py`), after Django's.
"""

import re

from django.template import Library, TemplateSyntaxError, defaultfilters, defaulttags

from ..exceptions import TemplateTooCostly
from .budget import max_bytes, size

register = Library()
_NUMBER = re.compile(r"\d+")


def _refuse(what: str, asked: int):
    limit = max_bytes()
    if limit > 0 and asked > limit:
        raise TemplateTooCostly(
            f"{what} would make {asked} characters, more than the {size(limit)} a message may have "
            "(TEMPLATE_MAX_BYTES)."
        )


def _width(arg) -> int:
    try:
        return int(arg)
    except (TypeError, ValueError):
        return 0


@register.filter(is_safe=True)
def ljust(value, arg):
    _refuse("ljust", _width(arg))
    return defaultfilters.ljust(value, arg)


@register.filter(is_safe=True)
def rjust(value, arg):
    _refuse("rjust", _width(arg))
    return defaultfilters.rjust(value, arg)


@register.filter(is_safe=True)
def center(value, arg):
    _refuse("center", _width(arg))
    return defaultfilters.center(value, arg)


@register.filter(is_safe=True)
def stringformat(value, arg):
    _refuse("stringformat", max((int(n) for n in _NUMBER.findall(str(arg))), default=0))
    return defaultfilters.stringformat(value, arg)


@register.filter(is_safe=True)
def floatformat(value, arg=-1):
    _refuse("floatformat", max((int(n) for n in _NUMBER.findall(str(arg))), default=0))
    return defaultfilters.floatformat(value, arg)


# Longest lorem unit: a word is under 15 characters, a paragraph under 1,000.
_LOREM_UNIT = {"w": 15, "p": 1000, "b": 1000}


class _BoundedLorem(defaulttags.LoremNode):
    def render(self, context):
        try:
            count = int(self.count.resolve(context))
        except (ValueError, TypeError):
            count = 1
        _refuse("lorem", count * _LOREM_UNIT.get(self.method, 1000))
        return super().render(context)


@register.tag
def lorem(parser, token):
    node = defaulttags.lorem(parser, token)
    node.__class__ = _BoundedLorem
    return node


@register.tag
def debug(parser, token):
    raise TemplateSyntaxError("The {% debug %} tag is not available in campaign templates.")
