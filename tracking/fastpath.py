"""A WSGI shortcut for the two hottest URLs: the open pixel and the click redirect.

Every message opened fetches the pixel, so it is served without Django's middleware stack
and URL resolver: `wrap(application)` answers ``GET|HEAD /t/o/<token>.gif`` and
``GET|HEAD /t/c/<token>/<link>`` with the functions the views use (`tracking/hits.py`: the
same recording, GIF, redirect and headers), without a request or response object at all;
every other request goes to Django untouched.

What is skipped for these two paths, and why that is fine: sessions, auth, CSRF, messages
(they set and read no cookies), CORS, clickjacking headers (a GIF and a redirect), and
Host-header validation (neither answer contains a URL built from the Host header). The
database connection is managed as Django does around a request
(`close_if_unusable_or_obsolete` after each hit), without the per-request health-check
query (one more round trip per hit): a connection the server dropped shows up as an error
on the next hit instead, and `hits.hit_record` then replaces it and runs the hit again, so
no hit is lost and no click answers 503 for it.
"""

import re
import time

from django.db import DatabaseError, connections
from django.utils.encoding import iri_to_uri

from . import hits

PIXEL_RE = re.compile(r"^/t/o/(?P<token>[^/]*)\.gif$")
CLICK_RE = re.compile(r"^/t/c/(?P<token>[A-Za-z0-9_-]{1,64})/(?P<link_id>[0-9]{1,18})/?$")


def _release_connections():
    """What Django's request_finished does (`close_if_unusable_or_obsolete`), minus
    re-arming the per-request health check: close a connection that saw an error, left
    autocommit, or outlived CONN_MAX_AGE."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        expired = conn.close_at is not None and time.monotonic() >= conn.close_at
        if conn.errors_occurred or expired or conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
            conn.close()


PIXEL_HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(hits.PIXEL))),
    *hits.PIXEL_HEADERS.items(),
]


def _pixel(environ, start_response, token):
    """The open pixel without a Django request or response: the same `hits.record_open`
    and the same GIF and headers as `views.open_pixel`."""
    try:
        hits.record_open(token, hits.hit_of(environ))
    finally:
        _release_connections()
    start_response("200 OK", list(PIXEL_HEADERS))
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [hits.PIXEL]


def _click(environ, start_response, token, link_id):
    """The click redirect without a Django request or response: `hits.click_target`, and
    the same answers as `views.click`."""
    try:
        url = hits.click_target(token, link_id, hits.hit_of(environ))
    except DatabaseError:
        url, status, body = None, "503 Service Unavailable", hits.UNAVAILABLE.encode()
    else:
        status, body = ("404 Not Found", b"Not Found") if url is None else ("302 Found", b"")
    finally:
        _release_connections()
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    if url is not None:
        headers += [("Location", iri_to_uri(url)), *hits.CLICK_HEADERS.items()]
    start_response(status, headers)
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def wrap(application):
    """`application` with the pixel and click paths answered directly."""

    def tracking_fast_paths(environ, start_response):
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            path = environ.get("PATH_INFO", "")
            if path.startswith("/t/o/"):
                match = PIXEL_RE.match(path)
                if match:
                    return _pixel(environ, start_response, match["token"])
            elif path.startswith("/t/c/"):
                match = CLICK_RE.match(path)
                if match:
                    return _click(environ, start_response, match["token"], match["link_id"])
        return application(environ, start_response)

    return tracking_fast_paths
