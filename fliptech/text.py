"""Text rules shared by the API, the admin and the CSV import, framework-free."""

# One-line values (a name or subject may end up in a mail header).
LINE_BREAKS = "\r\n\x0b\x0c\x85\u2028\u2029"


def has_line_break(value: str) -> bool:
    return any(ch in value for ch in LINE_BREAKS)


def unstorable(value: str) -> bool:
    """True when no text column can hold `value`: a NUL character (PostgreSQL refuses it)
    or a lone surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
