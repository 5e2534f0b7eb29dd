"""Boolean SQL conditions on a lead's JSON columns (`tags`, `attributes`) that Django's own
lookups cannot say the same way on PostgreSQL and SQLite, written once per database.

Each is a `Condition` expression: the column is compiled by Django (so table aliases are
right wherever the queryset ends up, e.g. inside an INSERT … SELECT), every value is a bound
parameter, and the SQL never yields NULL (so `NOT` of it is safe).

PostgreSQL uses jsonb operators (`?`, `?|`, `?&` are served by the GIN indexes of migration
0008) and a numeric cast guarded by a regular expression (`CASE WHEN … ~ re THEN …::numeric`:
a value that is not a number is never cast, so a bad value cannot raise). SQLite uses the
JSON1 functions and Django's REGEXP function, with the same regular expression.
"""

import json

from django.db.models import BooleanField, F, Func

from .rules import NUMERIC_RE


class Condition(Func):
    """A boolean condition built by `build(vendor, column_sql) -> (sql, params)`."""

    output_field = BooleanField()

    def __init__(self, build, column: str):
        self.build = build
        super().__init__(F(column), output_field=BooleanField())

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        sql, more = self.build(connection.vendor, column)
        return f"({sql})", [*params, *more]


# --- tags ----------------------------------------------------------------------------------


def _tags(op: str, tags: list[str]):
    def build(vendor, col):
        if vendor == "postgresql":
            operator = "?&" if op == "has_all" else "?|"
            # Not wrapped in COALESCE: the column is NOT NULL, and the GIN index serves only
            # the bare operator.
            sql = f"{col} {operator} %s::text[]"
            return (f"NOT {sql}" if op == "has_none" else sql), [list(tags)]
        wanted = "(SELECT value FROM json_each(%s))"
        if op == "has_all":
            distinct = len(set(tags))
            sql = f"(SELECT count(DISTINCT value) FROM json_each({col}) WHERE type = 'text' AND value IN {wanted}) = %s"
            return sql, [json.dumps(tags), distinct]
        sql = f"EXISTS (SELECT 1 FROM json_each({col}) WHERE type = 'text' AND value IN {wanted})"
        return (f"NOT {sql}" if op == "has_none" else sql), [json.dumps(tags)]

    return build


def tags_condition(op: str, tags: list[str]) -> Condition:
    """`has_any` / `has_all` / `has_none` of `tags` (exact strings)."""
    return Condition(_tags(op, tags), "tags")


# --- attributes ---------------------------------------------------------------------------


def _pg_parts(col: str, key: str):
    """(type, text, number) SQL of the attribute `key` and the params each needs."""
    typ = (f"jsonb_typeof({col} -> %s::text)", [key])
    raw = (f"({col} ->> %s::text)", [key])
    text = (
        f"CASE WHEN {typ[0]} IN ('string', 'number', 'boolean') THEN {raw[0]} END",
        [*typ[1], *raw[1]],
    )
    # A simple CASE: the type is computed once per row.
    number = (
        f"CASE {typ[0]} WHEN 'number' THEN {raw[0]}::numeric "
        f"WHEN 'string' THEN CASE WHEN {raw[0]} ~ %s THEN btrim({raw[0]})::numeric END END",
        [*typ[1], *raw[1], *raw[1], NUMERIC_RE, *raw[1]],
    )
    return text, number


def _sqlite_parts(col: str, key: str):
    path = f'$."{key}"'  # rules_clean refuses keys with quotes or backslashes
    typ = f"json_type({col}, %s)"
    raw = f"json_extract({col}, %s)"
    text = (
        f"CASE {typ} WHEN 'text' THEN {raw} WHEN 'integer' THEN CAST({raw} AS TEXT) "
        f"WHEN 'real' THEN CAST({raw} AS TEXT) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END",
        [path, path, path, path],
    )
    number = (
        f"CASE WHEN {typ} IN ('integer', 'real') THEN {raw} "
        f"WHEN {typ} = 'text' AND {raw} REGEXP %s THEN CAST(trim({raw}) AS REAL) END",
        [path, path, path, path, NUMERIC_RE, path],
    )
    return text, number


_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _attribute(op: str, key: str, value, number):
    def build(vendor, col):
        pg = vendor == "postgresql"
        false = "FALSE" if pg else "0"
        if op in ("exists", "not_exists"):
            # Never NULL (NOT NULL column); bare for the GIN index on PostgreSQL.
            sql, params = (f"{col} ? %s::text", [key]) if pg else (f"json_type({col}, %s) IS NOT NULL", [f'$."{key}"'])
            return (f"NOT {sql}" if op == "not_exists" else sql), params
        text, num = _pg_parts(col, key) if pg else _sqlite_parts(col, key)
        compare = "eq" if op == "neq" else op
        if op == "contains":
            needle = ("true" if value else "false") if isinstance(value, bool) else str(value).lower()
            find = "strpos" if pg else "instr"
            sql, params = f"{find}(lower({text[0]}), %s) > 0", [*text[1], needle]
        elif number is not None and not isinstance(value, bool):
            bound = "%s::numeric" if pg else "%s"
            sql, params = f"{num[0]} {_COMPARE[compare]} {bound}", [*num[1], str(number) if pg else float(number)]
        else:
            wanted = ("true" if value else "false") if isinstance(value, bool) else value.lower()
            sql, params = f"lower({text[0]}) {_COMPARE[compare]} %s", [*text[1], wanted]
        sql = f"COALESCE({sql}, {false})"
        return (f"NOT {sql}" if op == "neq" else sql), params

    return build


def attribute_condition(op: str, key: str, value, number) -> Condition:
    """An `attributes.<key>` condition; `number` is `rules.as_number(value)` (None when the
    value is not numeric: then text compares, case-insensitively)."""
    return Condition(_attribute(op, key, value, number), "attributes")
