"""Authentication that checks what a client sends before the database sees it."""

import re

from rest_framework import authentication, exceptions

# DRF token keys are 40 lower-case hex characters (secrets.token_hex(20)).
TOKEN_KEY = re.compile(r"[0-9a-f]{40}")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (`Authorization: Token <key>`), refusing a key that cannot
    exist (a NUL byte, 10,000 characters, …) as "Invalid token." without a query — PostgreSQL
    would reject a NUL byte with an error, i.e. a 500."""

    def authenticate_credentials(self, key):
        if not TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
