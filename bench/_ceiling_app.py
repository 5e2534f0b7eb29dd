"""The ceiling for bench/tracking.py: a bare WSGI app answering the open pixel's GIF with
one INSERT per hit (CEILING_INSERT=1) or none (0). One psycopg connection per worker."""

import os

import psycopg

# The same 43-byte GIF as tracking.views.PIXEL (not imported: no Django here).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

DSN = os.environ.get("CEILING_DSN", "")
INSERT = os.environ.get("CEILING_INSERT", "1") == "1"
_conn = None


def _db():
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(DSN, autocommit=True)
    return _conn


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if INSERT:
        token = path.rsplit("/", 1)[-1].removesuffix(".gif")
        _db().execute(
            "INSERT INTO bench_ceiling_hit (token, user_agent, ip_address) VALUES (%s, %s, %s)",
            (token, environ.get("HTTP_USER_AGENT", ""), environ.get("REMOTE_ADDR")),
        )
    start_response(
        "200 OK", [("Content-Type", "image/gif"), ("Content-Length", "43"), ("Cache-Control", "no-store, private")]
    )
    return [PIXEL]
