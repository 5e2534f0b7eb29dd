"""The one parser for database ids taken from a URL, a query string, a form or a JSON body.

Every id column is a PostgreSQL ``bigint``: an id is a positive integer up to ``MAX_PK``.
Only ASCII digits count — ``str.isdigit()`` accepts "²" and other Unicode digits, which
``int()`` then refuses (a 500 if nobody checks) — and the length is checked before ``int()``
so a 5,000-digit string costs nothing. Callers answer ``None`` with their own 404 or 400.
"""

MAX_PK = 2**63 - 1
_MAX_DIGITS = len(str(MAX_PK))


def parse_pk(value) -> int | None:
    """`value` as a database id (1 … MAX_PK), or None when it is not one.

    Accepts an int (not a bool) or a string of ASCII digits; anything else — floats, "1.0",
    "-1", "0", "²", "", None, a NUL byte, a number past MAX_PK — is None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_PK else None
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > _MAX_DIGITS:
        return None
    pk = int(value)
    return pk if 0 < pk <= MAX_PK else None


def parse_id_list_item(value) -> int | None:
    """An item of a list of ids whose unknown ids are reported one by one, not refused (the
    lead ids of a bulk add): any int (not a bool), or a string of at most 30 ASCII digits, as
    an int that may be no database id (0, past MAX_PK: the caller reports it as unknown).
    None for anything else ("²", "1.0", floats, …)."""
    if type(value) is int:
        return value
    pk = parse_pk(value)
    if pk is not None:
        return pk
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 30:
        return int(value)
    return None
