"""CSV exports of leads and of a campaign's recipients, streamed.

On PostgreSQL the database writes the CSV itself: `COPY (SELECT …) TO STDOUT WITH (FORMAT
csv)` over the filtered queryset, with the formula escape and the date format in the SELECT,
its output passed on in pieces of about 64 KB as it arrives (no Python per row). On SQLite
rows are read through `QuerySet.iterator(chunk_size=…)` and written by the csv module.
Either way memory does not grow with the number of rows. Every text cell goes through
`csvio.escape_cell` (a leading `'` before `= + - @ \\t \\r`), which the import undoes, so
importing a lead export changes nothing. The file starts with a UTF-8 BOM so that
spreadsheets read it as UTF-8. Dates are ISO 8601 in UTC (`…Z`), empty when unset.
"""

import csv
import io
import json

from django.db import connection
from django.db.models.expressions import RawSQL
from django.http import StreamingHttpResponse

from fliptech.errors import NotFound

from .csvio import escape_cell
from .models import CampaignRecipient, Lead, Segment
from .segments.selectors import segment_leads

LEAD_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "city",
    "source",
    "timezone",
    "status",
    "tags",
    "attributes",
    "created_at",
    "updated_at",
)
RECIPIENT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "status",
    "sent_at",
    "opened_at",
    "clicked_at",
    "replied_at",
    "bounced_at",
    "unsubscribed_at",
    "open_count",
    "click_count",
    "error_message",
)
CHUNK_ROWS = 5000
FLUSH_BYTES = 64 * 1024


def leads_for_export(*, queryset, segment_id=None):
    """The leads an export writes: `queryset` (the lead list's filters applied), narrowed to
    the members of segment `segment_id` when given (NotFound for an unknown segment)."""
    if segment_id is None:
        return queryset
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound("No segment matches the given id.")
    return queryset.filter(pk__in=segment_leads(segment).values("pk"))


def _when(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def lead_rows(queryset):
    for row in queryset.order_by("id").values_list(*LEAD_COLUMNS).iterator(chunk_size=CHUNK_ROWS):
        pk, email, first, last, company, phone, city, source, zone, status, tags, attributes, created, updated = row
        yield (
            pk,
            escape_cell(email),
            escape_cell(first),
            escape_cell(last),
            escape_cell(company),
            escape_cell(phone),
            escape_cell(city),
            escape_cell(source),
            escape_cell(zone),
            status,
            escape_cell(", ".join(tags)) if tags else "",
            json.dumps(attributes, ensure_ascii=False) if attributes else "",
            _when(created),
            _when(updated),
        )


def recipient_rows(queryset):
    dates = RECIPIENT_COLUMNS[4:10]
    fields = ("email_address", *RECIPIENT_COLUMNS[1:])
    for row in queryset.order_by("created_at", "id").values_list(*fields).iterator(chunk_size=CHUNK_ROWS):
        email, first, last, status = row[:4]
        yield (
            escape_cell(email),
            escape_cell(first),
            escape_cell(last),
            status,
            *(_when(value) for value in row[4 : 4 + len(dates)]),
            row[10],
            row[11],
            escape_cell(row[12]),
        )


# --- PostgreSQL: the database writes the CSV (COPY … TO STDOUT) ------------------------------

_TRIGGERS_SQL = "('=', '+', '-', '@', chr(9), chr(13))"


def _sql_escaped(column: str) -> str:
    """SQL for csvio.escape_cell over a text expression."""
    return f"CASE WHEN left({column}, 1) IN {_TRIGGERS_SQL} THEN chr(39) || {column} ELSE {column} END"


def _sql_when(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def _q(column: str, table: str) -> str:
    return f"{connection.ops.quote_name(table)}.{connection.ops.quote_name(column)}"


def _lead_sql(name: str) -> str:
    column = _q(name, Lead._meta.db_table)
    if name in ("id", "status"):
        return column
    if name in ("created_at", "updated_at"):
        return _sql_when(column)
    if name == "tags":
        return _sql_escaped(f"array_to_string(ARRAY(SELECT jsonb_array_elements_text({column})), ', ')")
    if name == "attributes":
        return f"CASE WHEN {column} = '{{}}'::jsonb THEN '' ELSE {column}::text END"
    return _sql_escaped(column)


def _recipient_sql(name: str) -> str:
    column = _q("email_address" if name == "email" else name, CampaignRecipient._meta.db_table)
    if name in ("status", "open_count", "click_count"):
        return column
    if name.endswith("_at"):
        return _sql_when(column)
    return _sql_escaped(column)


def copy_chunks(queryset, exprs, order_by):
    """The rows of `queryset` as CSV byte blocks written by PostgreSQL (COPY … TO STDOUT):
    no Python per row. `exprs`: one SQL expression per column of the model's table."""
    names = [f"c{i}" for i in range(len(exprs))]
    columns = queryset.annotate(**{n: RawSQL(e, ()) for n, e in zip(names, exprs, strict=True)})
    sql, params = columns.order_by(*order_by).values_list(*names).query.sql_with_params()
    # COPY takes no parameters: they are bound client-side (psycopg's quoting).
    statement = connection.ops.compose_sql(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params)
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        pending, size = [], 0
        for block in copy:
            pending.append(bytes(block))
            size += len(block)
            if size >= FLUSH_BYTES:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


def csv_chunks(header, rows):
    """The CSV file as byte pieces of about FLUSH_BYTES: BOM and header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _header_then(header, blocks):
    yield next(csv_chunks(header, ()))
    yield from blocks


def csv_response(filename: str, header, rows=None, blocks=None) -> StreamingHttpResponse:
    """A streamed CSV download: `rows` (tuples, written by the csv module) or `blocks`
    (CSV bytes from `copy_chunks`) after the header."""
    body = _header_then(header, blocks) if blocks is not None else csv_chunks(header, rows)
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def leads_csv(queryset, filename="leads.csv") -> StreamingHttpResponse:
    if connection.vendor == "postgresql":
        blocks = copy_chunks(queryset, [_lead_sql(c) for c in LEAD_COLUMNS], ["id"])
        return csv_response(filename, LEAD_COLUMNS, blocks=blocks)
    return csv_response(filename, LEAD_COLUMNS, lead_rows(queryset))


def recipients_csv(queryset, filename="recipients.csv") -> StreamingHttpResponse:
    if connection.vendor == "postgresql":
        blocks = copy_chunks(queryset, [_recipient_sql(c) for c in RECIPIENT_COLUMNS], ["created_at", "id"])
        return csv_response(filename, RECIPIENT_COLUMNS, blocks=blocks)
    return csv_response(filename, RECIPIENT_COLUMNS, recipient_rows(queryset))
