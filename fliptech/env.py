"""Settings read from the environment: typed values and the EMAIL_URL parser
(fliptech/settings.py uses them; kept apart so the settings module stays a list of settings)."""

import os
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def parse_email_url(url, *, mail_dir="var/mail"):
    """EMAIL_URL → Django email settings.

    smtp://user:pass@host:port (plain, STARTTLS when ?tls=1), smtp+tls://… (STARTTLS),
    smtp+ssl://… or smtps://… (implicit TLS), console://, file:///abs/path or file://
    (`mail_dir`), locmem://, anymail://<esp> (e.g. anymail://mailgun, configured through
    ANYMAIL_* variables).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    conf = {}
    if scheme in ("smtp", "smtp+tls", "smtp+ssl", "smtps"):
        conf["EMAIL_BACKEND"] = "django.core.mail.backends.smtp.EmailBackend"
        conf["EMAIL_HOST"] = parts.hostname or "localhost"
        conf["EMAIL_PORT"] = parts.port or (465 if scheme in ("smtp+ssl", "smtps") else 25)
        conf["EMAIL_HOST_USER"] = unquote(parts.username or "")
        conf["EMAIL_HOST_PASSWORD"] = unquote(parts.password or "")
        conf["EMAIL_USE_TLS"] = scheme == "smtp+tls" or query.get("tls") in ("1", "true")
        conf["EMAIL_USE_SSL"] = scheme in ("smtp+ssl", "smtps") or query.get("ssl") in ("1", "true")
        conf["EMAIL_TIMEOUT"] = int(query.get("timeout", 30))
    elif scheme == "console":
        conf["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
    elif scheme == "file":
        path = unquote(parts.netloc + parts.path) or str(mail_dir)
        conf["EMAIL_BACKEND"] = "django.core.mail.backends.filebased.EmailBackend"
        conf["EMAIL_FILE_PATH"] = path
    elif scheme == "locmem":
        conf["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    elif scheme == "anymail":
        esp = parts.netloc or parts.path.strip("/")
        conf["EMAIL_BACKEND"] = f"anymail.backends.{esp}.EmailBackend"
    else:
        raise ImproperlyConfigured(f"EMAIL_URL: unsupported scheme {scheme!r}")
    return conf
