"""The render budget (CONTRACT.md, Privacy and safety): a message renders within
`TEMPLATE_RENDER_TIMEOUT` seconds (default 2) and `TEMPLATE_MAX_BYTES` (default 2 MB),
or it is refused with `TemplateTooCostly` naming the part and the template line — and
render errors are told without the render context (a lead's data, a token).

How: every node of a compiled template is given a guarded class (`guard`) that, before it
renders, checks the deadline of the budget the render carries (`BudgetContext`), and after
it renders charges the characters a leaf node (text, a variable, a tag with no body) wrote;
the leaves' output is all the output there is, so no loop, however nested, outruns it by
more than one node. A filter or tag that could make more than the whole budget in one call
(`ljust:"99999999"`, `{% lorem 99999999 %}`) is refused before it allocates (`limits`).
The checks run only while a budget is attached; a plain `Context` renders as before.
"""

import os
import time

from django.conf import settings
from django.template import Context
from django.template.base import TextNode, VariableDoesNotExist

from ..exceptions import TemplateError, TemplateTooCostly

# Benchmarks only (bench/send.py --compare-budget, bench/security_cost.py): compile without
# the guard, to measure what it costs. Never set in production.
GUARD = os.environ.get("FLIPTECH_BENCH_NO_RENDER_BUDGET") != "1"


def max_bytes() -> int:
    return int(getattr(settings, "TEMPLATE_MAX_BYTES", 2 * 1024 * 1024))


def timeout() -> float:
    return float(getattr(settings, "TEMPLATE_RENDER_TIMEOUT", 2))


class Budget:
    """One message's allowance: a deadline and characters left; `part` names what renders."""

    __slots__ = ("deadline", "left", "limit", "part", "seconds")

    def __init__(self, *, seconds: float | None = None, limit: int | None = None):
        self.seconds = timeout() if seconds is None else seconds
        self.limit = max_bytes() if limit is None else limit
        self.deadline = time.monotonic() + self.seconds if self.seconds > 0 else float("inf")
        self.left = self.limit if self.limit > 0 else float("inf")
        self.part = "template"

    def too_slow(self, line=None) -> TemplateTooCostly:
        exc = TemplateTooCostly(
            f"the template takes longer than {self.seconds:g} s to render (TEMPLATE_RENDER_TIMEOUT)."
        )
        return place(exc, self.part, line)

    def too_big(self, line=None) -> TemplateTooCostly:
        exc = TemplateTooCostly(f"the message renders larger than {size(self.limit)} (TEMPLATE_MAX_BYTES).")
        return place(exc, self.part, line)

    def check_time(self, line=None) -> None:
        if time.monotonic() > self.deadline:
            raise self.too_slow(line)

    def charge(self, chars: int, line=None) -> None:
        self.left -= chars
        if self.left < 0:
            raise self.too_big(line)


class BudgetContext(Context):
    """A Context that carries the render's Budget to the guarded nodes (copies keep it)."""

    def __init__(self, dict_=None, *, budget: Budget, autoescape=True):
        super().__init__(dict_, autoescape=autoescape)
        self.budget = budget


def place(exc: TemplateTooCostly, part: str, line) -> TemplateTooCostly:
    """Prefix a refusal raised inside a filter or tag with the part and line, once."""
    if not getattr(exc, "placed", False):
        exc.placed = True
        exc.message = f"The template is over the render budget: {where(part, line)}{exc.message}"
        exc.args = (exc.message,)
    return exc


def where(part: str, line) -> str:
    return f"{part} line {line}: " if line else f"{part}: "


def size(limit: int) -> str:
    return f"{limit / 1024 / 1024:g} MB" if limit >= 1024 * 1024 else f"{limit} bytes"


# --- guarded nodes ------------------------------------------------------------------------


def _line(node):
    token = getattr(node, "token", None)
    return getattr(token, "lineno", None)


def _guarded_render(base, leaf):
    render_annotated = base.render_annotated

    def guarded(self, context):
        budget = getattr(context, "budget", None)
        if budget is None:
            return render_annotated(self, context)
        if time.monotonic() > budget.deadline:
            raise budget.too_slow(_line(self))
        try:
            out = render_annotated(self, context)
        except TemplateTooCostly as exc:
            place(exc, budget.part, _line(self))
            raise
        except Exception as exc:
            if not hasattr(exc, "fliptech_line"):  # the innermost node is the culprit
                exc.fliptech_line = _line(self)
            raise
        if leaf:
            budget.left -= len(out)
            if budget.left < 0:
                raise budget.too_big(_line(self))
        return out

    return guarded


def _guarded_text(self, context):
    """Static text: nothing to time (it is one string), only its size to count."""
    budget = getattr(context, "budget", None)
    if budget is not None:
        budget.left -= len(self.s)
        if budget.left < 0:
            raise budget.too_big(_line(self))
    return self.s


_classes = {}


def _guarded_class(cls, leaf: bool):
    key = (cls, leaf)
    found = _classes.get(key)
    if found is None:
        render = _guarded_text if issubclass(cls, TextNode) else _guarded_render(cls, leaf)
        found = _classes[key] = type(
            cls.__name__, (cls,), {"render_annotated": render, "__module__": cls.__module__, "_guarded": True}
        )
    return found


def _children(node):
    for attr in node.child_nodelists:
        nodelist = getattr(node, attr, None)
        if nodelist:
            yield from nodelist


def guard(template):
    """Give every node of the compiled `template` its guarded class; returns the template."""
    if not GUARD:
        return template
    stack = list(template.nodelist)
    while stack:
        node = stack.pop()
        children = list(_children(node))
        if not getattr(type(node), "_guarded", False):
            node.__class__ = _guarded_class(type(node), leaf=not children)
        stack.extend(children)
    return template


# --- safe error messages --------------------------------------------------------------------


def failure(exc: Exception, part: str) -> TemplateError:
    """A render failure as a TemplateError that names the part, the line and the kind of
    problem, never a value: exception texts quote data (VariableDoesNotExist prints the
    whole context dict, a ValueError the value it could not convert)."""
    if isinstance(exc, TemplateError):
        return exc
    line = getattr(exc, "fliptech_line", None)
    if isinstance(exc, VariableDoesNotExist):
        key = exc.params[0] if exc.params else "?"
        problem = f"a filter or tag argument names an unknown variable ({key!s:.100})"
    else:
        problem = f"a tag or filter failed ({exc.__class__.__name__})"
    return TemplateError(f"The template does not render: {where(part, line)}{problem}.")
