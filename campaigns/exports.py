"""CSV exports of leads and of a campaign's recipients, streamed.

Rows are read through `QuerySet.iterator(chunk_size=…)` (a server-side cursor on
PostgreSQL), written by the csv module into a small buffer and sent in pieces of about
64 KB, so memory does not grow with the number of rows. Every text cell goes through
`csvio.escape_cell` (a leading `'` before `= + - @ \\t \\r`), which the import undoes, so
importing a lead export changes nothing. The file starts with a UTF-8 BOM so that
spreadsheets read it as UTF-8. Dates are ISO 8601 in UTC (`…Z`), empty when unset.
"""

import csv
import io
import json

from django.http import StreamingHttpResponse

from .csvio import escape_cell

LEAD_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "city",
    "source",
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


class SegmentsUnavailable(Exception):
    """`segment_id` was given but segments are not wired into exports in this build."""


def leads_for_export(*, queryset, segment_id=None):
    """The leads an export writes: `queryset` (the lead list's filters applied), narrowed to
    the members of segment `segment_id` when given.

    MERGE HOOK (segments branch): replace the `raise` with the segment's member filter,
    e.g. `queryset.filter(segment_members_q(segment))`, 404 for an unknown segment. The
    API answers 400 `segments_unavailable` until then; tests/campaigns/test_export.py has
    a strict xfail test for the wiring."""
    if segment_id is not None:
        raise SegmentsUnavailable()
    return queryset


def _when(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def lead_rows(queryset):
    for row in queryset.order_by("id").values_list(*LEAD_COLUMNS).iterator(chunk_size=CHUNK_ROWS):
        pk, email, first, last, company, phone, city, source, status, tags, attributes, created, updated = row
        yield (
            pk,
            escape_cell(email),
            escape_cell(first),
            escape_cell(last),
            escape_cell(company),
            escape_cell(phone),
            escape_cell(city),
            escape_cell(source),
            status,
            escape_cell(", ".join(tags)) if tags else "",
            json.dumps(attributes, ensure_ascii=False) if attributes else "",
            _when(created),
            _when(updated),
        )


def recipient_rows(queryset):
    dates = RECIPIENT_COLUMNS[4:10]
    for row in queryset.order_by("created_at", "id").values_list(*RECIPIENT_COLUMNS).iterator(chunk_size=CHUNK_ROWS):
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


def csv_response(filename: str, header, rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_chunks(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def leads_csv(queryset, filename="leads.csv") -> StreamingHttpResponse:
    return csv_response(filename, LEAD_COLUMNS, lead_rows(queryset))


def recipients_csv(queryset, filename="recipients.csv") -> StreamingHttpResponse:
    return csv_response(filename, RECIPIENT_COLUMNS, recipient_rows(queryset))
