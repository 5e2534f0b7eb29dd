"""CSV lead imports: `import_create` checks and stores an upload and queues the import on
commit; `import_run` (the Celery task's body) reads the stored file in chunks and upserts
the leads by email.

Decisions (where the contract is silent; see also campaigns/csvio.py and docs/imports.md):
- A row is counted once, in this order: invalid (reported in `errors` with its line and
  reason, nothing of it written), duplicate (its email already appeared earlier in the
  file; the first row wins), then created / updated / unchanged. `suppressed` counts, among
  the created, updated and unchanged rows, those whose address is suppressed (they are
  imported all the same); `risky` likewise those whose address is risky (a role account or a
  disposable domain, campaigns.addresses), and an address whose domain takes no mail
  (`EMAIL_CHECK_MX=1`) is an invalid row. So `processed_rows = created + updated + unchanged + invalid +
  duplicates`.
- Updating an existing lead (`update_existing`, the default) writes the fields the row
  gives (empty cells give nothing), adds the row's and the request's tags to the lead's
  (none removed), and merges attributes key by key. A lead the row would not change is
  `unchanged` and not written at all (its updated_at stays). With `update_existing=false`
  existing leads are left alone and counted `unchanged`.
- Blank lines (and rows of empty cells) are not rows. Lines are physical lines of the file,
  the header being line 1; a row that spans lines (a quoted line break) has the number of
  its first line.
- Each chunk of IMPORT_CHUNK_ROWS rows is one transaction together with the import's
  counters, so the counters always describe what is in the database. A worker that dies
  mid-file leaves the import `running`; when its heartbeat is older than
  IMPORT_LEASE_SECONDS the redelivered task takes it over and goes on after the last
  committed chunk.
- The stored file is deleted once the import is completed; the invalid rows are kept
  (LeadImportError) for the errors CSV.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fliptech.errors import BadRequest, TooLarge

from . import csvio, queue
from .audience import clean_attributes, clean_tags, lead_input_clean
from .import_writers import Writer
from .lead_input import risky_count
from .models import LeadImport, LeadImportError
from .pipeline import ahead

log = logging.getLogger(__name__)
COUNTERS = ("created", "updated", "unchanged", "invalid", "duplicates", "suppressed", "risky")
TEXT_FIELDS = ("first_name", "last_name", "company", "phone", "city", "source", "timezone", "status")
# A report lists at most this many invalid rows; the errors CSV has them all.
ERRORS_SHOWN = 1000


class ImportRejected(BadRequest):
    """The upload cannot be imported (not a CSV, no email column, a bad mapping, …)."""

    default_code = "invalid_import"
    default_message = "The file cannot be imported."


class FileTooLarge(TooLarge):
    default_code = "file_too_large"
    default_message = "The file is too large."


class ImportBusy(Exception):
    """Another worker is running this import (its heartbeat is fresh): try again later."""

    def __init__(self, retry_in: float):
        super().__init__(f"import running elsewhere, retry in {retry_in:.0f}s")
        self.retry_in = retry_in


def import_create(*, upload, mapping=None, tags="", update_existing=True, user=None) -> LeadImport:
    """Check `upload` (a Django UploadedFile) and the options, store the file, queue the
    import on commit. Raises ImportRejected (400) or FileTooLarge (413); nothing is stored then."""
    limit = settings.IMPORT_MAX_BYTES
    if upload.size > limit:
        raise FileTooLarge(f"The file is {upload.size} bytes; at most {limit} bytes (IMPORT_MAX_BYTES) are accepted.")
    try:
        upload.seek(0)
        head = upload.read(csvio.HEAD_BYTES)
        delimiter, headers = csvio.sniff(head)
        targets = csvio.resolve_mapping(headers, csvio.parse_mapping(mapping))
        if len(head) < csvio.HEAD_BYTES and not _has_rows(head, delimiter):
            raise csvio.CsvProblem("The file has a header row but no rows.")
        upload.seek(0)
        csvio.check_utf8(upload.chunks())
        try:
            extra_tags = clean_tags(csvio.split_tags(tags or ""))
        except ValueError as exc:
            raise csvio.CsvProblem(f"`tags` {exc}.") from None
    except csvio.CsvProblem as exc:
        raise ImportRejected(str(exc)) from None
    upload.seek(0)
    lead_import = LeadImport(
        file_name=(upload.name or "")[:255],
        file_size=upload.size,
        delimiter=delimiter,
        headers=[h.strip() for h in headers],
        targets=targets,
        tags=extra_tags,
        update_existing=update_existing,
        created_by=user if getattr(user, "pk", None) else None,
    )
    lead_import.file.save("upload.csv", File(upload), save=False)
    with transaction.atomic():
        lead_import.save()
        queue.send_on_commit(queue.IMPORT_LEADS, lead_import.pk)
    return lead_import


def _has_rows(head: bytes, delimiter: str) -> bool:
    text = head.decode("utf-8-sig", errors="replace").splitlines()
    records = (cells for cells in csvio.csv.reader(text, delimiter=delimiter) if any(c.strip() for c in cells))
    next(records, None)  # the header
    return next(records, None) is not None


def _claim(import_id: int) -> LeadImport | None:
    """Take the import: queued → running, or a running one whose worker went silent.
    None when it is finished or gone; ImportBusy when another worker holds it."""
    now = timezone.now()
    claimed = LeadImport.objects.filter(pk=import_id, status=LeadImport.Status.QUEUED).update(
        status=LeadImport.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        row = LeadImport.objects.filter(pk=import_id).values("status", "heartbeat_at").first()
        if row is None or row["status"] != LeadImport.Status.RUNNING:
            return None
        lease = timedelta(seconds=settings.IMPORT_LEASE_SECONDS)
        if row["heartbeat_at"] and row["heartbeat_at"] > now - lease:
            raise ImportBusy((row["heartbeat_at"] + lease - now).total_seconds() + 1)
        claimed = LeadImport.objects.filter(
            pk=import_id, status=LeadImport.Status.RUNNING, heartbeat_at=row["heartbeat_at"]
        ).update(heartbeat_at=now)
        if not claimed:
            raise ImportBusy(settings.IMPORT_LEASE_SECONDS)
        log.warning("lead import %s: taking over from a silent worker", import_id)
    return LeadImport.objects.get(pk=import_id)


def import_run(*, import_id: int) -> LeadImport | None:
    """Run the import (the task's body; safe to call twice or concurrently)."""
    lead_import = _claim(import_id)
    if lead_import is None:
        return None
    writer = Writer(lead_import.pk)
    try:
        storage, name = lead_import.file.storage, lead_import.file.name
        if lead_import.total_rows is None:
            with storage.open(name, "rb") as binary:
                # Rows with a non-empty cell, less the header (what `_records` yields), counted in C.
                total = max(0, sum(map(any, csvio.text_reader(binary, lead_import.delimiter))) - 1)
            LeadImport.objects.filter(pk=lead_import.pk).update(total_rows=total)
        writer.open()
        with storage.open(name, "rb") as binary:
            _import_rows(lead_import, writer, _records(csvio.text_reader(binary, lead_import.delimiter)))
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, csvio.csv.Error | OSError) else "Internal error."
        log.exception("lead import %s failed", import_id)
        LeadImport.objects.filter(pk=import_id).update(
            status=LeadImport.Status.FAILED, completed_at=timezone.now(), failure_reason=reason[:2000]
        )
        return LeadImport.objects.get(pk=import_id)
    finally:
        writer.close()
    LeadImport.objects.filter(pk=import_id).update(status=LeadImport.Status.COMPLETED, completed_at=timezone.now())
    lead_import.file.delete(save=False)
    LeadImport.objects.filter(pk=import_id).update(file="")
    return LeadImport.objects.get(pk=import_id)


def _records(reader):
    """(line, cells) of every data row: the header skipped, blank lines dropped, `line`
    counted from the header as line 1."""
    header_at = None
    previous = 0
    for cells in reader:
        start, previous = previous + 1, reader.line_num
        if not any(cells):
            continue
        if header_at is None:
            header_at = start
            continue
        yield start - header_at + 1, cells


def _import_rows(lead_import, writer, records):
    """Write the file chunk by chunk. The rows are read and cleaned (pure Python, no
    database) in a thread one chunk ahead, so the cleaning of chunk n+1 runs while the
    database works on chunk n (the GIL is free while psycopg waits)."""
    skip = lead_import.processed_rows  # committed by an earlier run
    chunks = _chunks(records, max(1, settings.IMPORT_CHUNK_ROWS))
    cleaned = ahead(chunks, lambda chunk: _clean(chunk, lead_import.targets, lead_import.tags))
    for chunk, clean in cleaned:
        skip = _chunk(lead_import, writer, chunk, replay=skip, cleaned=clean)


def _chunks(records, size):
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _clean(chunk, targets, extra_tags):
    """Validate the chunk's rows: ({email: (line, lead)} of the first row per email, the
    number of in-chunk duplicates, [LeadImportError fields])."""
    valid, duplicates, errors = {}, 0, []
    for line, cells in chunk:
        try:
            lead = lead_input_clean(csvio.row_to_object(cells, targets, extra_tags))
        except ValueError as exc:
            email = cells[targets.index("email")] if targets.index("email") < len(cells) else ""
            errors.append({"line": line, "email": email.strip()[:254], "message": str(exc), "cells": cells})
            continue
        if lead["email"] in valid:
            duplicates += 1
        else:
            valid[lead["email"]] = (line, lead)
    return valid, duplicates, errors


def _merge(stored: dict, lead: dict) -> dict:
    """The stored lead with the row applied (see the module docstring)."""
    merged = dict(stored)
    for name in TEXT_FIELDS:
        if name in lead:
            merged[name] = lead[name]
    if lead.get("tags"):
        merged["tags"] = [*stored["tags"], *(tag for tag in lead["tags"] if tag not in stored["tags"])]
    if lead.get("attributes"):
        merged["attributes"] = {**stored["attributes"], **lead["attributes"]}
    return merged


def _too_big(merged: dict) -> str | None:
    """Why the merged lead cannot be stored (too many tags, attributes too large), or None."""
    try:
        clean_tags(merged["tags"])
    except ValueError as exc:
        return f"Tags (with the lead's own) {exc}."
    try:
        clean_attributes(merged["attributes"])
    except ValueError as exc:
        return f"Attributes (with the lead's own) {exc}."
    return None


_NEW = {**dict.fromkeys(TEXT_FIELDS, ""), "status": "new", "tags": [], "attributes": {}}


def _new(line: int, lead: dict) -> dict:
    return {**_NEW, **lead, "line": line}


def _chunk(lead_import, writer, chunk, *, replay: int, cleaned=None) -> int:
    """Validate (unless `cleaned` is given: `_clean`'s answer for it) and write one chunk in
    one transaction with the import's counters. The first `replay` rows were written by an
    earlier run: only their emails are remembered again. Returns how many rows are still to
    replay."""
    valid, duplicates, errors = cleaned or _clean(chunk, lead_import.targets, lead_import.tags)
    if replay >= len(chunk):
        writer.first_seen(list(valid))
        return replay - len(chunk)
    if replay:  # the chunk boundary moved (IMPORT_CHUNK_ROWS changed): split it
        _chunk(lead_import, writer, chunk[:replay], replay=replay)
        return _chunk(lead_import, writer, chunk[replay:], replay=0)

    now = timezone.now()
    counts = dict.fromkeys(COUNTERS, 0)
    counts["invalid"] = len(errors)
    with transaction.atomic():
        first = writer.first_seen(list(valid))
        counts["duplicates"] = duplicates + len(valid) - len(first)
        emails = [email for email in valid if email in first]
        stored = writer.existing(emails, lock=lead_import.update_existing)
        inserts, updates, dropped = [], [], set()
        for email in emails:
            line, lead = valid[email]
            old = stored.get(email)
            if old is None:
                inserts.append(_new(line, lead))
                continue
            merged = _merge(old, lead) if lead_import.update_existing else old
            if merged == old:
                counts["unchanged"] += 1
                continue
            problem = _too_big(merged)
            if problem:
                errors.append({"line": line, "email": email, "message": problem, "cells": []})
                counts["invalid"] += 1
                dropped.add(email)
                continue
            updates.append({**merged, "line": line})
        created = writer.insert(inserts, now)
        counts["created"] = created
        counts["unchanged"] += len(inserts) - created  # created meanwhile by someone else: left alone
        counts["updated"] = writer.update(updates, now)
        counts["unchanged"] += len(updates) - counts["updated"]  # deleted meanwhile
        counts["suppressed"] = writer.suppressed([email for email in emails if email not in dropped])
        counts["risky"] = risky_count(valid[email][1] for email in emails if email not in dropped)
        if errors:
            for error in errors:
                if not error["cells"]:
                    error["cells"] = next(cells for line, cells in chunk if line == error["line"])
            LeadImportError.objects.bulk_create(LeadImportError(lead_import=lead_import, **e) for e in errors)
        LeadImport.objects.filter(pk=lead_import.pk).update(
            processed_rows=F("processed_rows") + len(chunk),
            heartbeat_at=now,
            **{name: F(name) + n for name, n in counts.items() if n},
        )
    return 0
