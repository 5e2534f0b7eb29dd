"""The set operations of a CSV import, one call per chunk of rows, for PostgreSQL and SQLite.

PostgreSQL: rows go through `COPY … FROM STDIN` into a temporary table (emptied at every
commit), then one INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING for the new leads and
one UPDATE … FROM for the changed ones. SQLite (the embedded mode) binds the rows as one JSON
parameter (json_each) in the same two statements. Across chunks, the file's emails are
remembered in a temporary table, so a duplicate row is found however far apart the two
rows are and the worker's memory does not grow with the file.
"""

import json

from django.db import connection

from .audience import LEAD_TEXT_FIELDS, values_set
from .lead_input import LEAD_WRITTEN_FIELDS
from .models import Lead, Suppression

FIELDS = LEAD_WRITTEN_FIELDS  # email, text fields, status, tags, attributes, email_status
JSON_FIELDS = ("tags", "attributes")


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _qn(name):
    return connection.ops.quote_name(name)


def _set(values) -> tuple[str, list]:
    raw = values_set(values, "text")
    return raw.sql, list(raw.params)


class Writer:
    """The database side of one import run, on the current connection."""

    def __init__(self, import_id: int):
        self.seen = f"lead_import_seen_{import_id}"
        self.stage = f"lead_import_stage_{import_id}"
        self.table = _qn(Lead._meta.db_table)

    def open(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.seen}")
            cursor.execute(f"CREATE TEMP TABLE {self.seen} (email text PRIMARY KEY)")
            if _pg():
                cols = ", ".join(f"{name} {'jsonb' if name in JSON_FIELDS else 'text'}" for name in FIELDS)
                cursor.execute(f"DROP TABLE IF EXISTS {self.stage}")
                cursor.execute(
                    f"CREATE TEMP TABLE {self.stage} (line integer, id bigint, {cols}) ON COMMIT DELETE ROWS"
                )

    def close(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.seen}")
            if _pg():
                cursor.execute(f"DROP TABLE IF EXISTS {self.stage}")

    def first_seen(self, emails: list[str]) -> set[str]:
        """Remember `emails` (distinct); those already remembered by an earlier chunk are not returned."""
        if not emails:
            return set()
        sql, params = _set(emails)
        with connection.cursor() as cursor:
            if not _pg():
                cursor.execute(
                    f"INSERT INTO {self.seen} (email) SELECT * FROM ({sql}) v WHERE true"
                    " ON CONFLICT DO NOTHING RETURNING email",
                    params,
                )
                return {row[0] for row in cursor.fetchall()}
            # Only the emails seen before come back (usually none): a chunk's worth of rows
            # through the socket costs more than the insert.
            cursor.execute(
                f"WITH v (email) AS ({sql}),"
                f" new AS (INSERT INTO {self.seen} (email) SELECT email FROM v ON CONFLICT DO NOTHING RETURNING email)"
                " SELECT email FROM v EXCEPT SELECT email FROM new",
                params,
            )
            seen_before = {row[0] for row in cursor.fetchall()}
        return set(emails) - seen_before

    def existing(self, emails: list[str], *, lock: bool) -> dict[str, dict]:
        """{lower email: the stored lead's fields (+ "id")} for the leads with these emails,
        row-locked until the end of the transaction when `lock`."""
        if not emails:
            return {}
        cols = ["id", *FIELDS]
        sql, params = _set(emails)
        query = f"SELECT {', '.join(_qn(c) for c in cols)} FROM {self.table} WHERE lower(email) IN ({sql})" + (
            " FOR UPDATE" if lock and _pg() else ""
        )
        out = {}
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            for row in cursor.fetchall():
                lead = dict(zip(cols, row, strict=True))
                for name in JSON_FIELDS:
                    if isinstance(lead[name], str):  # SQLite; psycopg decodes jsonb itself
                        lead[name] = json.loads(lead[name])
                out[lead["email"].lower()] = lead
        return out

    def suppressed(self, emails: list[str]) -> int:
        if not emails:
            return 0
        return Suppression.objects.filter(email__in=values_set(emails, "text")).count()

    def insert(self, rows: list[dict], now) -> int:
        """INSERT the new leads (full rows); returns how many were inserted (a lead created
        meanwhile by someone else is skipped, not overwritten)."""
        if not rows:
            return 0
        now_db = Lead._meta.get_field("created_at").get_db_prep_save(now, connection)
        names = ", ".join(FIELDS)
        with connection.cursor() as cursor:
            if _pg():
                self._copy(cursor, rows)
                cursor.execute(
                    f"INSERT INTO {self.table} ({names}, created_at, updated_at) "
                    f"SELECT {names}, %s, %s FROM {self.stage} WHERE id IS NULL ORDER BY line "
                    "ON CONFLICT DO NOTHING",
                    [now_db, now_db],
                )
                return cursor.rowcount
            else:
                cursor.execute(
                    f"INSERT INTO {self.table} ({names}, created_at, updated_at) "
                    f"SELECT {self._json_columns()}, %s, %s FROM json_each(%s) WHERE true "
                    "ON CONFLICT DO NOTHING RETURNING id",
                    [now_db, now_db, self._json(rows)],
                )
            return len(cursor.fetchall())

    def update(self, rows: list[dict], now) -> int:
        """UPDATE the changed leads (full rows with their "id") in one statement."""
        if not rows:
            return 0
        now_db = Lead._meta.get_field("updated_at").get_db_prep_save(now, connection)
        fields = FIELDS[1:]  # the email (the key) stays as stored
        sets = ", ".join(f"{name} = x.{name}" for name in fields)
        with connection.cursor() as cursor:
            if _pg():
                self._copy(cursor, rows)
                source = f"(SELECT * FROM {self.stage} WHERE id IS NOT NULL) x"
                params = [now_db]
            else:
                source = f"(SELECT json_extract(value, '$.id') AS id, {self._json_columns()} FROM json_each(%s)) x"
                params = [now_db, self._json(rows)]
            cursor.execute(
                f"UPDATE {self.table} SET {sets}, updated_at = %s FROM {source} WHERE {self.table}.id = x.id", params
            )
            return cursor.rowcount

    # --- helpers ---

    def _copy(self, cursor, rows):
        columns = ["line", "id", *FIELDS]
        # ON COMMIT DELETE ROWS empties it per chunk, unless the run is inside an outer
        # transaction (a savepoint does not count as a commit).
        cursor.execute(f"DELETE FROM {self.stage}")
        with cursor.copy(f"COPY {self.stage} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        row["line"],
                        row.get("id"),
                        row["email"],
                        *(row[name] for name in LEAD_TEXT_FIELDS),
                        row["status"],
                        json.dumps(row["tags"]) if row["tags"] else "[]",
                        json.dumps(row["attributes"]) if row["attributes"] else "{}",
                        row["email_status"],
                    ]
                )

    @staticmethod
    def _json_columns() -> str:
        return ", ".join(
            (f"json(json_extract(value, '$.{name}'))" if name in JSON_FIELDS else f"json_extract(value, '$.{name}')")
            + f" AS {name}"
            for name in FIELDS
        )

    @staticmethod
    def _json(rows) -> str:
        return json.dumps([{key: row[key] for key in ("id", *FIELDS) if key in row} for row in rows])
