"""FlipTech Campaigns settings: one file, read from the environment.

Every variable has a safe embedded default so that a fresh clone runs with no
services at all (SQLite under var/, a filesystem Celery broker under var/, mail
written as .eml files under var/mail/). DEBUG is off unless asked for (`make run` and
the tests ask, with DEBUG=1); with DEBUG off — and always in the Docker image
(FLIPTECH_REQUIRE_SECRET_KEY=1) — the development SECRET_KEY is refused. The production
environment is documented in docs/security.md; `manage.py check --deploy` is clean with it.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from fliptech import env
from fliptech.anymail_env import anymail_settings
from fliptech.env import env_bool, env_float, env_int, env_list
from fliptech.rates import domain_intervals

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FLIPTECH_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


DEV_SECRET_KEY = "dev-insecure-fliptech-change-me"
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY
if (not DEBUG or env_bool("FLIPTECH_REQUIRE_SECRET_KEY")) and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        ("DEBUG is off" if not DEBUG else "FLIPTECH_REQUIRE_SECRET_KEY is set")
        + ": set SECRET_KEY to a random string of at least 32 characters."
    )

# In DEBUG (the embedded default) any host name is served; production lists its own.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*" if DEBUG else "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")

# Absolute base of every tracking and unsubscribe link written into messages.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "fliptech.admin_site.FlipTechAdminConfig",  # django.contrib.admin with our site (header, safe lists)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "anymail",
    "axes",
    "campaigns",
    "tracking",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "fliptech.timezones.BrowserTimezoneMiddleware",  # the admin's dates in the browser's zone
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it answers a locked-out login attempt (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fliptech.urls"
WSGI_APPLICATION = "fliptech.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not :memory:, so a Celery worker started by a test sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DATABASE_TEST_NAME") or str(VAR_DIR / "test.sqlite3")}
elif os.environ.get("DATABASE_TEST_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DATABASE_TEST_NAME"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login lockout (django-axes; CONTRACT.md, Privacy and safety) ------------
# AXES_FAILURE_LIMIT failed logins lock that username from that address for
# AXES_COOLOFF_HOURS; the right password is refused meanwhile. Attempts live in the database.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS") or 1)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
if DEBUG:
    # whitenoise warns on every start when the (still uncollected) directory is missing.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG else "fliptech.storage.StaticFilesStorage"
        )
    },
}
# Until `collectstatic` has run, whitenoise serves static files from the apps themselves.
WHITENOISE_USE_FINDERS = DEBUG or not (STATIC_ROOT / "staticfiles.json").exists()

if not DEBUG:
    # Secure cookies when the site is served over https (SITE_URL), so an admin login over
    # plain http on a private network still works; SECURE_COOKIES overrides.
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", SITE_URL.startswith("https://"))
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- HTTPS and the proxy in front (docs/security.md) -------------------------
# All off by default (a plain-http install on a private network keeps working); production
# behind TLS sets them. SECURE_PROXY_SSL_HEADER names the header the proxy sets (e.g.
# `X-Forwarded-Proto`): only then is a request with `<header>: https` taken for https —
# never trust a header a client could send straight to the app.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# The health probe is called over plain http by load balancers.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/campaigns/health/?$"]
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + os.environ["SECURE_PROXY_SSL_HEADER"].strip().upper().replace("-", "_"),
        "https",
    )

# --- Content-Security-Policy (django-csp) on every page -------------------------
# Scripts only from our own static files (or an inline one carrying the request's nonce);
# inline styles stay allowed (the admin's style attributes). Images may come from any https
# host: the template preview shows the message as a recipient sees it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "https:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# Database sessions that refuse keys Django never issues (a NUL byte reached PostgreSQL).
SESSION_ENGINE = "fliptech.sessions"

# --- Mail -----------------------------------------------------------------


def parse_email_url(url):
    """EMAIL_URL → Django email settings (`fliptech.env.parse_email_url`), `file://` in var/mail/."""
    return env.parse_email_url(url, mail_dir=VAR_DIR / "mail")


EMAIL_FILE_PATH = str(VAR_DIR / "mail")
globals().update(parse_email_url(os.environ.get("EMAIL_URL") or f"file://{VAR_DIR / 'mail'}"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "FlipTech Pro <offers@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
DEFAULT_REPLY_TO = os.environ.get("DEFAULT_REPLY_TO", "")
# Optional mailto: address added to List-Unsubscribe beside the https URL.
LIST_UNSUBSCRIBE_MAILTO = os.environ.get("LIST_UNSUBSCRIBE_MAILTO", "")
# Replies (tracking/replies/, docs/replies.md): an optional per-recipient reply address,
# e.g. replies+{token}@mail.example.com (then the messages' Reply-To), and an IMAP mailbox
# beat polls every minute, e.g. imaps://user:pass@imap.example.com/INBOX.
REPLY_ADDRESS = os.environ.get("REPLY_ADDRESS", "")
IMAP_URL = os.environ.get("IMAP_URL", "")
INBOUND_MAX_BYTES = env_int("INBOUND_MAX_BYTES", 40 * 1024 * 1024)

# Any ANYMAIL_<KEY> variable becomes ANYMAIL["<KEY>"] (e.g. ANYMAIL_MAILGUN_API_KEY,
# ANYMAIL_WEBHOOK_SECRET="user:pass"), booleans, numbers and JSON objects parsed where
# anymail expects them (ANYMAIL_AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS=false).
ANYMAIL = anymail_settings(os.environ)
# The ESP behind an SMTP relay, for its custom-data header (campaigns/sending/relays.py):
# e.g. sendgrid, mailgun, postmark; empty = from EMAIL_HOST; none = no such header.
EMAIL_RELAY = os.environ.get("EMAIL_RELAY", "")

# --- Celery ---------------------------------------------------------------

BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport, waking a worker told to stop at once (fliptech/broker.py).
    CELERY_BROKER_TRANSPORT = "fliptech.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Exchange tables for fanout/control; kombu defaults to ./control in the working dir.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Longer than any batch can take, so Redis does not hand an unacked task to a
    # second worker while the first still works on it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Every task has a soft and a hard time limit (seconds); the tasks in campaigns/tasks.py
# set their own, suited to each. The hard limit stays below the visibility timeout, so Redis
# never hands a task that still runs to a second worker.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 330)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Sending --------------------------------------------------------------

# Global cap on messages per hour across every worker (0 = no cap).
SEND_RATE_PER_HOUR = env_int("SEND_RATE_PER_HOUR", 0)
SEND_BATCH_SIZE = env_int("SEND_BATCH_SIZE", 200)
# How long a claimed (queued) recipient stays claimed before the janitor frees it; the sender
# renews its leases every SEND_LEASE_SECONDS / 3 (the heartbeat) while it works, so a dead
# worker's claims come back within SEND_LEASE_SECONDS + the janitor's 10 s.
SEND_LEASE_SECONDS = env_int("SEND_LEASE_SECONDS", 30)
# Transient failures (4xx, connection refused) retry after base × 2^n seconds (≤ 10 min);
# a recipient is failed after SEND_MAX_ATTEMPTS transient refusals of its own message.
SEND_RETRY_BACKOFF_SECONDS = env_int("SEND_RETRY_BACKOFF_SECONDS", 10)
SEND_MAX_ATTEMPTS = env_int("SEND_MAX_ATTEMPTS", 5)
# A running campaign with due recipients, no live lease and nothing started or scheduled for
# retry for this long gets its send task queued again by the janitor (a lost task chain).
SEND_STALL_SECONDS = env_int("SEND_STALL_SECONDS", 30)
# A chain waits (a countdown) for a follow-up due within this many seconds; later ones are
# found by the janitor (campaigns/sending/followups.py).
FOLLOWUP_HORIZON = env_int("FOLLOWUP_HORIZON", 60)
# How long the sender keeps retrying, on a new connection, a mark it must not lose (a message
# the server accepted is recorded "sent" once the database is back).
SEND_DB_RETRY_SECONDS = env_int("SEND_DB_RETRY_SECONDS", 300)
# PostgreSQL: let the sender's per-message commits skip the WAL flush wait (docs/sending.md).
# Off by default: a database crash must not forget a "sent" mark (that would mean a resend).
SEND_ASYNC_COMMIT = env_bool("SEND_ASYNC_COMMIT", False)
# SMTP PIPELINING: unset = when the server offers it; 1/0 force it on/off.
SEND_SMTP_PIPELINING = {"1": True, "0": False}.get(os.environ.get("SEND_SMTP_PIPELINING", ""))
# Per recipient domain caps across every worker and campaign, e.g. "gmail.com=3000/h,
# yahoo.com=20/m" (campaigns/pacing.py): seconds between two messages to each domain.
SEND_DOMAIN_RATES = domain_intervals(os.environ.get("SEND_DOMAIN_RATES", ""))
# Where shared pacing state lives: the Redis URL when the broker is Redis.
RATE_LIMIT_REDIS_URL = os.environ.get(
    "RATE_LIMIT_REDIS_URL",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "",
)

# --- Deliverability (docs/deliverability.md) ---------------------------------

# Soft bounces (mailbox full, …) of one address within 30 days that suppress it (0 = never).
SOFT_BOUNCE_LIMIT = env_int("SOFT_BOUNCE_LIMIT", 3)
# A running campaign pauses itself once AUTO_PAUSE_MIN_SAMPLE messages were sent and its
# bounce rate (bounced / sent) or complaint rate (complained / delivered), in percent, is
# above these; a campaign's own auto_pause_* fields override them (0 = off).
AUTO_PAUSE_MIN_SAMPLE = env_int("AUTO_PAUSE_MIN_SAMPLE", 100)
AUTO_PAUSE_BOUNCE_RATE = env_float("AUTO_PAUSE_BOUNCE_RATE", 5.0)
AUTO_PAUSE_COMPLAINT_RATE = env_float("AUTO_PAUSE_COMPLAINT_RATE", 0.3)

# DKIM for messages sent over SMTP (campaigns/sending/dkim.py): the RSA private key as PEM
# text or a file path, its selector, and d= (default: the From address's domain).
DKIM_PRIVATE_KEY = os.environ.get("DKIM_PRIVATE_KEY", "")
DKIM_SELECTOR = os.environ.get("DKIM_SELECTOR", "")
DKIM_DOMAIN = os.environ.get("DKIM_DOMAIN", "")
if DKIM_PRIVATE_KEY and not DKIM_SELECTOR:
    raise ImproperlyConfigured("DKIM_PRIVATE_KEY is set: set DKIM_SELECTOR too (the DNS record's selector).")

# DNS lookups of our own (fliptech/resolver.py: the pre-send checklist's DKIM/SPF/DMARC, the MX
# check): nameservers "host[:port],…" (empty: the system's), and the time one lookup may take.
DNS_NAMESERVERS = env_list("DNS_NAMESERVERS")
DNS_TIMEOUT = env_float("DNS_TIMEOUT", 2.0)
# Lead addresses (campaigns/addresses.py): look up the domain's MX when a lead is written
# (a domain without one makes the address `invalid`). Off by default: it costs a lookup per domain.
EMAIL_CHECK_MX = env_bool("EMAIL_CHECK_MX", False)
# The pre-send checklist's spam score: SpamAssassin's spamd, "tcp://host:783" (unset: not checked).
SPAMD_URL = os.environ.get("SPAMD_URL", "")
SPAMD_TIMEOUT = env_float("SPAMD_TIMEOUT", 10.0)

# --- Import and export ----------------------------------------------------

# Uploaded CSV files wait in Django's default storage (STORAGES["default"]) for the import
# task. The default is the filesystem under MEDIA_ROOT: a worker on another machine needs
# that directory shared, or STORAGES["default"] set to a shared backend (docs/imports.md).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 100 * 1024 * 1024)
# Rows validated and written per transaction (and per progress update).
IMPORT_CHUNK_ROWS = env_int("IMPORT_CHUNK_ROWS", 10_000)
# A running import whose worker has not committed a chunk for this long is taken over.
IMPORT_LEASE_SECONDS = env_int("IMPORT_LEASE_SECONDS", 300)

# --- Admin ------------------------------------------------------------------

# How often the campaign page polls its live numbers (campaigns/static/campaigns/live.js).
ADMIN_LIVE_POLL_MS = env_int("ADMIN_LIVE_POLL_MS", 3000)

# --- Render budget and test sends (CONTRACT.md, Privacy and safety) --------

# A message (subject, HTML, text) must render within this many seconds and this many
# bytes, or it is refused (400 template_too_costly; while sending, the campaign fails).
TEMPLATE_RENDER_TIMEOUT = float(os.environ.get("TEMPLATE_RENDER_TIMEOUT") or 2)
TEMPLATE_MAX_BYTES = env_int("TEMPLATE_MAX_BYTES", 2 * 1024 * 1024)
# Test messages per user per hour (429 beyond; 0 = no limit).
TEST_SEND_LIMIT = env_int("TEST_SEND_LIMIT", 50)
# Hosts a link built from lead data may be tracked for, beside the template's own hosts.
TRACKING_ALLOWED_HOSTS = [host.lower() for host in env_list("TRACKING_ALLOWED_HOSTS")]

# --- Tracking -------------------------------------------------------------

# Opens and clicks by country: iptocc's offline dataset by default; MaxMind's GeoLite2/GeoIP2
# Country (or City) database when this names its .mmdb file or its directory (tracking/geo.py).
GEOIP_PATH = os.environ.get("GEOIP_PATH") or None

# Clicks this many seconds after sending are taken for a link scanner's (0 = off; see
# docs/tracking.md). Analytics answers stay cached while the campaign is unchanged.
TRACKING_SCANNER_WINDOW_SECONDS = env_int("TRACKING_SCANNER_WINDOW_SECONDS", 0)
TRACKING_ANALYTICS_CACHE_SECONDS = env_int("TRACKING_ANALYTICS_CACHE_SECONDS", 300)

# --- Outgoing webhooks (webhooks/, docs/webhooks.md) ----------------------

# Loopback, link-local and private addresses may receive webhooks only with this on (SSRF).
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS") or 10)
# Retries: base × 2^(attempt − 1) seconds, at most MAX, for FOR seconds after the event.
WEBHOOKS_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_BASE_SECONDS") or 30)
WEBHOOKS_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_MAX_SECONDS") or 3600)
WEBHOOKS_RETRY_FOR_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_FOR_SECONDS") or 24 * 3600)
# Deliveries claimed per batch, and POSTed at once per worker process.
WEBHOOKS_BATCH_SIZE = env_int("WEBHOOKS_BATCH_SIZE", 500)
WEBHOOKS_CONCURRENCY = env_int("WEBHOOKS_CONCURRENCY", 16)
# celery-beat queues the delivery task this often; each run delivers for up to DRAIN seconds.
WEBHOOKS_BEAT_SECONDS = env_int("WEBHOOKS_BEAT_SECONDS", 5)
WEBHOOKS_DRAIN_SECONDS = float(os.environ.get("WEBHOOKS_DRAIN_SECONDS") or 4)

# --- API ------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "fliptech.authentication.TokenAuthentication",  # DRF's, malformed keys refused unqueried
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "fliptech.permissions.ModelPermissions",  # reads need view_<model> too
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "fliptech.throttling.AnonRateThrottle",  # one counter per window, not DRF's history list
        "fliptech.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "600/minute"),
        "user": os.environ.get("API_THROTTLE_USER", "6000/minute"),
        # Wrong tokens per client address (fliptech.authentication): 429 past it.
        "auth_failures": os.environ.get("API_THROTTLE_AUTH_FAILURES", "20/minute"),
    },
    "EXCEPTION_HANDLER": "fliptech.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "fliptech.parsers.JSONParser",  # DRF's, with deep nesting → 400
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "FlipTech Campaigns API",
    "DESCRIPTION": "Email campaigns for FlipTech Pro: leads, templates, campaigns, sending, tracking.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The limits the server enforces, in the schema (fliptech/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "fliptech.schema.postprocess"],
    # Three models have a `status`: name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "LeadStatusEnum": "campaigns.models.LeadStatus",
        "RecipientStatusEnum": "campaigns.models.RecipientStatus",
        "WebhookEventTypeEnum": "webhooks.models.EventType",
        "WebhookDeliveryStatusEnum": "webhooks.models.DeliveryStatus",
    },
}

APP_VERSION = "1.0.0"

# Throttles and rate limiting share this cache; Redis when configured.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "fliptech.cache.RedisCache", "LOCATION": CACHE_URL}  # Django's, one client per pool
        if CACHE_URL.startswith("redis")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
