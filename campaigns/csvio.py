"""CSV as leads see it: reading an uploaded file's header, guessing and checking the column
mapping, turning a row into a lead object, and the spreadsheet-formula escape of exports.

Decisions (where the contract is silent):
- The delimiter is `,` or `;`, whichever splits the header row into more columns (`,` on a tie).
- A header matches a lead field when they are equal once lower-cased and stripped of spaces,
  `_` and `-`; a few common spellings are recognised too (`E-mail address`, `Phone number`,
  `Company name`, `Tag`). `id`, `created_at` and `updated_at` (columns of our own export)
  are recognised and ignored, so that importing an export changes nothing.
- An empty (or blank) cell means "not given": a new lead gets the field's default, an existing lead
  keeps its value. A cell mapped to `attributes` holds a JSON object (as our export writes
  it); a cell mapped to `attributes.<key>` is stored as a string under that key.
- A `status` cell compares case-insensitively (`New` is `new`).
- A cell that starts with `'` followed by one of `= + - @ \\t \\r` had the export's formula
  escape: the `'` is removed again, so a phone number `+1 555…` survives the round trip.
- A row with more cells than the header is invalid; missing trailing cells are empty.
"""

import codecs
import csv
import io
import json

from .audience import LEAD_INPUT_FIELDS

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Lead fields a column can be mapped to, plus the two special targets.
TARGETS = LEAD_INPUT_FIELDS
IGNORE = "ignore"
ATTRIBUTE_PREFIX = "attributes."
# Columns written by our export that an import leaves alone.
READ_ONLY = ("id", "created_at", "updated_at")
ALIASES = {
    "emailaddress": "email",
    "mail": "email",
    "phonenumber": "phone",
    "companyname": "company",
    "tag": "tags",
}
HEAD_BYTES = 64 * 1024
MAX_COLUMNS = 200
csv.field_size_limit(1024 * 1024)


class CsvProblem(ValueError):
    """The file or the mapping cannot be imported; the message says why (a 400)."""


def _norm(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch not in " _-")


_BY_NORM = {_norm(name): name for name in TARGETS}
_BY_NORM.update(ALIASES)
_BY_NORM.update({_norm(name): IGNORE for name in READ_ONLY})


def guess_target(header: str) -> str:
    """The lead field a column with this header goes to (see the module docstring)."""
    name = header.strip()
    return _BY_NORM.get(_norm(name)) or (ATTRIBUTE_PREFIX + name if name else IGNORE)


def escape_cell(value: str) -> str:
    """A cell that a spreadsheet would run as a formula gets a leading `'`."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def unescape_cell(value: str) -> str:
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_TRIGGERS else value


def sniff(head: bytes) -> tuple[str, list[str]]:
    """(delimiter, header cells) from the first bytes of a file; CsvProblem when it is not a
    UTF-8 CSV with a header row. `head` may end in the middle of a character or a line."""
    if not head.strip(codecs.BOM_UTF8 + b" \t\r\n"):
        raise CsvProblem("The file is empty.")
    if b"\x00" in head:
        raise CsvProblem("Not a CSV file (it contains binary data).")
    text = head.decode("utf-8-sig", errors="replace")  # check_utf8 reads the whole file
    first = text.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
    best = None
    for delimiter in (",", ";"):
        try:
            cells = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            continue
        if best is None or len(cells) > len(best[1]):
            best = (delimiter, cells)
    if best is None or not any(cell.strip() for cell in best[1]):
        raise CsvProblem("Not a CSV file: no header row.")
    if len(best[1]) > MAX_COLUMNS:
        raise CsvProblem(f"Too many columns (at most {MAX_COLUMNS}).")
    return best


def check_utf8(chunks) -> None:
    """Raises CsvProblem unless the byte chunks are UTF-8 text without NUL bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in chunks:
            if b"\x00" in chunk:
                raise CsvProblem("Not a CSV file (it contains binary data).")
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise CsvProblem("The file is not UTF-8 text (save it as “CSV UTF-8”).") from None


def parse_mapping(raw) -> dict:
    """The `mapping` form field (a JSON object or absent) → {header: target}."""
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise CsvProblem("`mapping` is not valid JSON.") from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise CsvProblem('`mapping` must be a JSON object of strings: {"<csv header>": "<lead field>"}.')
    return raw


def resolve_mapping(headers: list[str], given: dict) -> list[str]:
    """One target per column: the given mapping where it names the column, else the guess.
    CsvProblem for an unknown header or field, a field mapped twice, or no email column."""
    stripped = [h.strip() for h in headers]
    for header in given:
        if header.strip() not in stripped:
            raise CsvProblem(f"`mapping` names a column the file does not have: {header[:100]!r}.")
    given = {header.strip(): target.strip() for header, target in given.items()}
    targets, seen = [], {}
    for index, header in enumerate(stripped):
        target = given.get(header) or guess_target(header)
        if target.startswith(ATTRIBUTE_PREFIX):
            if not target[len(ATTRIBUTE_PREFIX) :].strip():
                raise CsvProblem(f"`mapping` for {header[:100]!r}: an attribute needs a name (attributes.<key>).")
        elif target not in TARGETS and target != IGNORE:
            allowed = ", ".join([*TARGETS, "attributes.<key>", IGNORE])
            raise CsvProblem(f"Unknown lead field {target[:100]!r} for column {header[:100]!r} (one of {allowed}).")
        if target != IGNORE and target in seen:
            raise CsvProblem(
                f"Columns {stripped[seen[target]][:100]!r} and {header[:100]!r} both go to {target[:100]!r}; "
                "map one of them to another field or to “ignore”."
            )
        seen[target] = index
        targets.append(target)
    if "email" not in targets:
        raise CsvProblem("No email column: name one `email` or map a column to it.")
    return targets


def split_tags(cell: str) -> list[str]:
    return [tag.strip() for tag in cell.replace(";", ",").split(",") if tag.strip()]


def row_to_object(cells: list[str], targets: list[str], extra_tags: list[str]) -> dict:
    """A CSV row → a lead object for `audience.lead_input_clean` (ValueError when the row
    cannot be one: too many cells, attributes that are not a JSON object)."""
    if len(cells) > len(targets) and any(cell.strip() for cell in cells[len(targets) :]):
        raise ValueError(f"The row has {len(cells)} cells; the header has {len(targets)}.")
    obj, attributes = {}, {}
    for target, cell in zip(targets, cells, strict=False):
        if not cell or target == IGNORE or cell.isspace():
            continue
        if cell[0] == "'":
            cell = unescape_cell(cell)
        if target.startswith(ATTRIBUTE_PREFIX):
            attributes[target[len(ATTRIBUTE_PREFIX) :]] = cell
        elif target == "tags":
            obj["tags"] = split_tags(cell)
        elif target == "attributes":
            try:
                value = json.loads(cell)
            except ValueError:
                raise ValueError("attributes: not a JSON object.") from None
            if not isinstance(value, dict):
                raise ValueError("attributes: not a JSON object.")
            attributes = {**value, **attributes}
        elif target == "status":
            obj["status"] = cell.strip().lower()
        else:
            obj[target] = cell
    if extra_tags:
        obj["tags"] = [*obj.get("tags", []), *(tag for tag in extra_tags if tag not in obj.get("tags", []))]
    if attributes:
        obj["attributes"] = attributes
    obj.setdefault("email", "")
    return obj


def text_reader(binary, delimiter: str):
    """csv.reader over a binary file, decoded as UTF-8 (BOM dropped), read in chunks."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    return csv.reader(text, delimiter=delimiter)
