"""Every segment op on known data, with exact members — on PostgreSQL and on SQLite in the
same run, so the two compilations must agree.

The suite's own database is one engine; the other one is a scratch database made here (a
temporary SQLite file, or a PostgreSQL database `test_segcheck_<pid>` on the server the
suite would use), migrated once, filled with the same rows (tests/campaigns/segment_cases.py)
and dropped at the end. The PostgreSQL side goes through `need()`: skipped without a server,
failed under REQUIRE_SERVICES=1.
"""

import os
import tempfile

import dj_database_url
import pytest
from django.core.management import call_command
from django.db import connection, connections

from campaigns.segments.selectors import rules_members, rules_preview
from tests.campaigns import segment_cases
from tests.conftest import need, port_open

ALIAS = "segcheck"
PG_URL = os.environ.get("SEGMENTS_CHECK_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _register(alias: str, config: dict):
    config = {**connections["default"].settings_dict, **config, "TEST": {}}
    connections.settings[alias] = config
    connections.configure_settings(connections.settings)


def _pg_admin(sql: str):
    import psycopg

    with psycopg.connect(PG_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def other_engine(django_db_setup, django_db_blocker):
    """The engine the suite is not running on: (vendor, alias, built data)."""
    if connection.vendor == "postgresql":
        vendor = "sqlite"
        path = tempfile.mktemp(prefix="segcheck-", suffix=".sqlite3")
        _register(ALIAS, {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": {}, "CONN_MAX_AGE": 0})
        drop = lambda: os.path.exists(path) and os.remove(path)  # noqa: E731
    else:
        vendor = "postgresql"
        host = dj_database_url.parse(PG_URL)
        if not port_open(host["HOST"] or "127.0.0.1", int(host["PORT"] or 5432)):
            yield vendor, None, None
            return
        name = f"test_segcheck_{os.getpid()}"
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
        _pg_admin(f'CREATE DATABASE "{name}"')
        _register(ALIAS, {**dj_database_url.parse(PG_URL), "NAME": name, "OPTIONS": {}, "CONN_MAX_AGE": 0})
        drop = lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # noqa: E731
    with django_db_blocker.unblock():
        try:
            call_command("migrate", database=ALIAS, verbosity=0, interactive=False)
            built = segment_cases.build(using=ALIAS)
            # Tests may not open connections to an alias they do not declare; this one stays
            # open and is read through `create_cursor` (see `_members`).
            connections[ALIAS].ensure_connection()
            yield vendor, ALIAS, built
        finally:
            connections[ALIAS].close()
            del connections[ALIAS]
            connections.settings.pop(ALIAS, None)
            drop()


def _members(rules, using):
    """The members' keys ("a", "b", …), sorted, from database `using` (one query)."""
    query = rules_members(rules).values_list("email")
    if using == "default":
        emails = [email for (email,) in query]
    else:
        sql, params = query.query.get_compiler(using=using).as_sql()
        cursor = connections[using].create_cursor()
        cursor.execute(sql, params)
        emails = [email for (email,) in cursor.fetchall()]
        cursor.close()
    return "".join(sorted(email[0] for email in emails))


CASES = segment_cases.all_cases()


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
@pytest.mark.parametrize(("case", "match", "conditions", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_op_gives_its_exact_members_on_both_engines(engine, case, match, conditions, expected, other_engine):
    if connection.vendor == engine:
        data, using = segment_cases.build(), "default"
    else:
        _vendor, using, data = other_engine
        need(using is not None, "PostgreSQL (127.0.0.1:5432, or SEGMENTS_CHECK_PG_URL)")
    rules = {"match": match, "conditions": conditions(data)}

    assert _members(rules, using) == expected


@pytest.mark.django_db
def test_preview_counts_suppressed_matches_apart_and_samples_members():
    segment_cases.build()
    rules = {"match": "all", "conditions": [{"field": "city", "op": "eq", "value": "austin"}]}

    preview = rules_preview(rules)

    assert (preview["lead_count"], preview["suppressed_count"]) == (2, 1)  # a, b; e is suppressed
    assert [lead.email for lead in preview["sample"]] == ["a@x.com", "b@y.org"]  # newest first
