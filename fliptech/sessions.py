"""The database session engine, refusing session keys that Django never issues.

Django's own check only wants 8+ characters, so a cookie such as
`sessionid="abcdefgh\\000"` (a quoted cookie may carry octal escapes) reached PostgreSQL,
which cannot store a NUL byte: a 500 on every page. A key outside Django's alphabet now
means "no session", like any unknown key.
"""

import re

from django.contrib.sessions.backends import db

SESSION_KEY = re.compile(r"[a-z0-9]{8,64}")


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key):
        return bool(key) and isinstance(key, str) and SESSION_KEY.fullmatch(key) is not None
