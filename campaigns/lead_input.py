"""Lead objects given in a request (bulk add, import): cleaned one by one, then upserted by
email in two statements however many.

- A lead object is validated on its own: a bad one (no valid email, an over-long value, a
  NUL byte, …) raises ValueError with the reason; the caller reports it and goes on.
- Upserting writes only the fields the object carries; a lead that exists keeps the others.
  `tags` and `attributes`, when given, replace the stored ones.
- Lists are bound as one parameter (a JSON recordset), so the statement count is constant.
- Every lead written here gets its `email_status` (campaigns.addresses); an address whose
  domain takes no mail (`invalid`, with EMAIL_CHECK_MX=1) is refused like a bad one: endpoint 7
  and imports report it as invalid and write nothing of it.
"""

import json
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection
from django.db.models.functions import Lower
from django.utils import timezone

from fliptech.text import LINE_BREAKS

from .addresses import INVALID, RISKY, address_status, email_syntax_problem
from .models import Lead
from .windows import clean_zone

MAX_TAGS = 100
MAX_TAG_LENGTH = 100
MAX_ATTRIBUTES_CHARS = 20_000


def _pg() -> bool:
    return connection.vendor == "postgresql"


LEAD_TEXT_FIELDS = ("first_name", "last_name", "company", "phone", "city", "source", "timezone")
LEAD_INPUT_FIELDS = ("email", *LEAD_TEXT_FIELDS, "status", "tags", "attributes")
# What the writers store: the input fields and the derived address status (never input).
LEAD_WRITTEN_FIELDS = (*LEAD_INPUT_FIELDS, "email_status")
_MAX_LENGTHS = {name: Lead._meta.get_field(name).max_length for name in LEAD_TEXT_FIELDS}
_STATUSES = frozenset(Lead.Status.values)


def json_problem(value) -> str | None:
    """Why `value` (JSON data) cannot be stored — a NUL character or a lone surrogate
    anywhere in it — or None."""
    text = json.dumps(value, ensure_ascii=False)
    if "\\u0000" in text:
        return "NUL characters are not allowed."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Invalid Unicode (lone surrogate)."
    return None


# What clean_text refuses (NUL, lone surrogates, line breaks), as one scan: a CSV import
# cleans millions of values through it.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff" + LINE_BREAKS + "]")


def clean_text(value, *, max_length: int) -> str:
    """A stored string: a str, no NUL/surrogates, at most `max_length` characters. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > max_length:
        raise ValueError(f"must have at most {max_length} characters")
    if _BAD_TEXT.search(value):  # one regex scan; the checks below only word the reason
        problem = json_problem(value)
        if problem:
            raise ValueError(problem.lower().rstrip("."))
        raise ValueError("line breaks are not allowed")
    return value.strip()


def clean_tags(value) -> list:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise ValueError(f"must be a list of at most {MAX_TAGS} strings")
    tags = []
    for tag in value:
        tag = clean_text(tag, max_length=MAX_TAG_LENGTH)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def clean_attributes(value) -> dict:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    text = json.dumps(value)
    # ASCII JSON writes NUL as \u0000 and every surrogate as \udxxx: only then is the
    # (slower) exact check needed.
    problem = json_problem(value) if "\\u0000" in text or "\\ud" in text else None
    if problem:
        raise ValueError(problem.lower().rstrip("."))
    if len(text) > MAX_ATTRIBUTES_CHARS:
        raise ValueError(f"must serialise to at most {MAX_ATTRIBUTES_CHARS} characters")
    return value


def clean_email(value) -> str:
    """A lead's email: trimmed, lower-cased, valid. Raises ValueError."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a valid email address is required")
    email = value.strip().lower()
    try:
        if len(email) > 254 or _BAD_TEXT.search(email):
            raise DjangoValidationError("invalid")
        validate_email(email)
    except DjangoValidationError:
        raise ValueError("not a valid email address") from None
    problem = email_syntax_problem(email)
    if problem:
        raise ValueError(f"not a valid email address ({problem.rstrip('.')})")
    return email


# A pasted list: items end at a line break, a comma or a semicolon; "Name <addr>" is addr.
_PASTE_SPLIT = re.compile(r"[\r\n,;]+")
_ANGLE = re.compile(r"<([^<>]*)>\s*$")


def addresses_parse(text: str) -> list[str]:
    """Email addresses pasted as text (one per line, or separated by commas or semicolons, as
    a spreadsheet column or a mail client's To: line gives them), in order, blanks dropped.
    Each item is returned as given (only trimmed, `<addr>` taken out of `Name <addr>`): the
    caller validates it with `clean_email` / `lead_input_clean` and reports the bad ones.
    A display name holding a comma ("Doe, Ann <ann@x.com>") splits in two; the part without
    an address is then reported invalid."""
    items = []
    for piece in _PASTE_SPLIT.split(text):
        piece = piece.strip()
        found = _ANGLE.search(piece)
        if found:
            piece = found.group(1).strip()
        if piece:
            items.append(piece)
    return items


EMAIL_TAKEN = "A lead with this email already exists."


def email_taken(email: str, *, exclude_pk=None) -> bool:
    """Whether another lead has `email` (lower-cased already), whatever its case — the
    rule of the unique index `lead_email_ci_unique`, asked before writing so the answer is a
    sentence rather than the constraint's name."""
    taken = Lead.objects.alias(email_lower=Lower("email")).filter(email_lower=email)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.exists()


def clean_field(name: str, value):
    """One lead field other than email (see LEAD_INPUT_FIELDS) → its stored value. Raises
    ValueError with the reason (without the field's name)."""
    if name in LEAD_TEXT_FIELDS:
        value = clean_text(value, max_length=_MAX_LENGTHS[name])
        if name == "timezone" and value:
            clean_zone(value)  # an IANA name, or ValueError
        return value
    if name == "status":
        if value not in _STATUSES:
            raise ValueError(f"must be one of {', '.join(Lead.Status.values)}")
        return value
    if name == "tags":
        return clean_tags(value)
    if name == "attributes":
        return clean_attributes(value)
    raise ValueError("unknown field")


def lead_input_clean(obj) -> dict:
    """One lead object of a bulk request → the fields it sets (email lower-cased).
    Raises ValueError with a readable reason. `null` for a field means "not given"."""
    if not isinstance(obj, dict):
        raise ValueError("Expected an object with at least an email.")
    unknown = sorted(str(k) for k in obj if k not in LEAD_INPUT_FIELDS)
    if unknown:
        raise ValueError(f"Unknown field(s): {', '.join(unknown)[:200]}.")
    try:
        out = {"email": clean_email(obj.get("email"))}
    except ValueError as exc:
        raise ValueError(f"email: {exc}.") from None
    out["email_status"] = address_status(out["email"])
    if out["email_status"] == INVALID:
        raise ValueError(f"email: the domain {out['email'].rpartition('@')[2]} does not accept mail (no MX).")
    for name in LEAD_INPUT_FIELDS[1:]:
        value = obj.get(name)
        if value is None:
            continue
        try:
            out[name] = clean_field(name, value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}.") from None
    return out


def risky_count(leads) -> int:
    """How many of these cleaned lead dicts (`lead_input_clean`'s) have a risky address."""
    return sum(lead["email_status"] == RISKY for lead in leads)


_PG_TYPES = {"tags": "jsonb", "attributes": "jsonb"}
_DEFAULTS = {"status": Lead.Status.NEW.value, "tags": [], "attributes": {}, "email_status": "unknown"}


def _recordset(rows: list[dict]) -> tuple[str, list]:
    """A FROM item `x` with one row per dict (columns LEAD_WRITTEN_FIELDS; absent = NULL),
    bound as one JSON parameter."""
    data = json.dumps(rows)
    if _pg():
        cols = ", ".join(f"{name} {_PG_TYPES.get(name, 'text')}" for name in LEAD_WRITTEN_FIELDS)
        return f"jsonb_to_recordset(%s::jsonb) AS x({cols})", [data]
    cols = ", ".join(
        f"json_extract(value, '$.{name}') AS {name}"
        if name not in _PG_TYPES
        else f"json(json_extract(value, '$.{name}')) AS {name}"
        for name in LEAD_WRITTEN_FIELDS
    )
    return f"(SELECT {cols} FROM json_each(%s)) AS x", [data]


def _default_sql(name: str) -> tuple[str, list]:
    default = _DEFAULTS.get(name, "")
    if name in _PG_TYPES:
        return ("%s::jsonb" if _pg() else "%s"), [json.dumps(default)]
    return "%s", [default]


def leads_upsert(*, leads: list[dict], now=None) -> dict[str, int]:
    """Upsert cleaned lead dicts (see `lead_input_clean`; emails lower-case and unique in
    the list) by email, case-insensitively, in two statements however many:
    INSERT … ON CONFLICT DO NOTHING for the new ones, then UPDATE … FROM for the rest,
    writing only the fields each dict carries. Returns {email: lead id}."""
    if not leads:
        return {}
    now = now or timezone.now()
    qn = connection.ops.quote_name
    table = qn(Lead._meta.db_table)
    now_db = Lead._meta.get_field("created_at").get_db_prep_save(now, connection)
    ids = {}

    from_sql, from_params = _recordset(leads)
    exprs, params = [], []
    for name in LEAD_WRITTEN_FIELDS[1:]:
        sql, p = _default_sql(name)
        exprs.append(f"COALESCE(x.{name}, {sql})")
        params += p
    insert = (
        f"INSERT INTO {table} (email, {', '.join(LEAD_WRITTEN_FIELDS[1:])}, created_at, updated_at) "
        f"SELECT x.email, {', '.join(exprs)}, %s, %s FROM {from_sql} WHERE x.email IS NOT NULL "
        f"ON CONFLICT DO NOTHING RETURNING id, email"
    )
    with connection.cursor() as cursor:
        cursor.execute(insert, [*params, now_db, now_db, *from_params])
        ids.update((email, pk) for pk, email in cursor.fetchall())

        rest = [lead for lead in leads if lead["email"] not in ids]
        if rest:
            from_sql, from_params = _recordset(rest)
            sets = ", ".join(f"{name} = COALESCE(x.{name}, {table}.{name})" for name in LEAD_WRITTEN_FIELDS[1:])
            update = (
                f"UPDATE {table} SET {sets}, updated_at = %s FROM {from_sql} "
                f"WHERE lower({table}.email) = x.email RETURNING {table}.id, {table}.email"
            )
            cursor.execute(update, [now_db, *from_params])
            ids.update((email.lower(), pk) for pk, email in cursor.fetchall())
    return ids
