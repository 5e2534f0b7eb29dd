"""The run command's parts: `manage.py demo`, settings from the environment (EMAIL_URL,
production safety, static files under DEBUG=0) and the deployment files."""

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign, CampaignRecipient, EmailTemplate, Lead
from campaigns.services import transition
from fliptech.settings import parse_email_url

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 20 + "-production-secret-key-for-tests-only"


def run_demo():
    out = StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    login = re.search(r"Login:\s+demo / (\S+)", text)
    token = re.search(r"API token:\s+([0-9a-f]{40})", text)
    assert login and token, text
    return login.group(1), token.group(1)


def counts():
    return (
        get_user_model().objects.count(),
        Lead.objects.count(),
        EmailTemplate.objects.count(),
        Campaign.objects.count(),
        CampaignRecipient.objects.count(),
    )


# --- manage.py demo -----------------------------------------------------------------


@pytest.mark.django_db
def test_demo_prints_a_login_and_token_that_work():
    password, key = run_demo()

    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser and user.is_staff and user.check_password(password)
    assert Token.objects.get(user=user).key == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/v1/campaigns")
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["campaigns"]] == ["Demo campaign"]


@pytest.mark.django_db
def test_demo_seeds_a_draft_campaign_with_five_example_leads():
    run_demo()

    campaign = Campaign.objects.get(name="Demo campaign")
    assert campaign.status == Campaign.Status.DRAFT and campaign.total_recipients == 5
    emails = sorted(campaign.recipients.values_list("email_address", flat=True))
    assert len(emails) == 5 and all(re.search(r"@example\.(com|org|net)$", e) for e in emails)
    assert '{{ lead.first_name|default:"there" }}' in campaign.template.body_html
    assert "https://" in campaign.template.body_html


@pytest.mark.django_db
def test_demo_is_idempotent_and_resets_the_password():
    first_password, first_key = run_demo()
    before = counts()

    second_password, second_key = run_demo()

    assert counts() == before
    assert second_key == first_key
    user = get_user_model().objects.get(username="demo")
    assert user.check_password(second_password) and not user.check_password(first_password)


@pytest.mark.django_db
def test_demo_after_a_launch_prepares_a_new_draft_and_keeps_the_launched_one():
    run_demo()
    launched = Campaign.objects.get(name="Demo campaign")
    transition(campaign=launched, action="launch")

    run_demo()
    run_demo()

    drafts = Campaign.objects.filter(name="Demo campaign", status=Campaign.Status.DRAFT)
    assert drafts.count() == 1 and drafts.get().total_recipients == 5
    assert Campaign.objects.get(pk=launched.pk).status == Campaign.Status.RUNNING
    assert Lead.objects.count() == 5


# --- EMAIL_URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://user:p%40ss@mail.example.com:2525",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "mail.example.com",
                "EMAIL_PORT": 2525,
                "EMAIL_HOST_USER": "user",
                "EMAIL_HOST_PASSWORD": "p@ss",
                "EMAIL_USE_TLS": False,
                "EMAIL_USE_SSL": False,
            },
        ),
        ("smtp://localhost", {"EMAIL_HOST": "localhost", "EMAIL_PORT": 25, "EMAIL_HOST_USER": ""}),
        ("smtp://u:p@mail.example.com:587?tls=1", {"EMAIL_USE_TLS": True, "EMAIL_PORT": 587}),
        ("smtp+tls://u:p@mail.example.com:587", {"EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False}),
        ("smtp+ssl://u:p@mail.example.com", {"EMAIL_USE_SSL": True, "EMAIL_PORT": 465}),
        ("smtps://u:p@mail.example.com", {"EMAIL_USE_SSL": True, "EMAIL_PORT": 465}),
        ("smtp://mail.example.com?timeout=5", {"EMAIL_TIMEOUT": 5}),
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        (
            "file:///srv/mail",
            {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": "/srv/mail"},
        ),
        ("locmem://", {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}),
        ("anymail://mailgun", {"EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend"}),
        ("anymail://amazon_ses", {"EMAIL_BACKEND": "anymail.backends.amazon_ses.EmailBackend"}),
    ],
)
def test_every_email_url_form_parses(url, expected):
    conf = parse_email_url(url)

    assert {k: conf[k] for k in expected} == expected


def test_a_bare_file_email_url_writes_under_var_mail(settings):
    conf = parse_email_url("file://")

    assert conf["EMAIL_FILE_PATH"] == str(Path(settings.VAR_DIR) / "mail")


def test_an_unknown_email_url_scheme_is_refused():
    with pytest.raises(ImproperlyConfigured, match="unsupported scheme"):
        parse_email_url("pigeon://coop")


# --- settings from the environment, in a fresh interpreter ----------------------------


def django_setup(tmp_path, code="", **env):
    """Run `import django; django.setup()` (+ `code`) in a subprocess with `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DEBUG", "SECRET_KEY", "EMAIL_URL"))}
    base.update({"FLIPTECH_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "fliptech.settings", "DEBUG": "1"})
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}  # None: unset
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "secret", [None, "dev-insecure-fliptech-change-me", "too-short"], ids=["unset", "development key", "short"]
)
def test_production_mode_refuses_an_insecure_secret_key(tmp_path, secret):
    env = {"DEBUG": "0"} | ({"SECRET_KEY": secret} if secret else {})

    result = django_setup(tmp_path, **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_debug_is_off_unless_asked_and_then_the_development_key_is_refused(tmp_path):
    result = django_setup(tmp_path, DEBUG=None)
    assert result.returncode != 0
    assert "DEBUG is off" in result.stderr and "SECRET_KEY" in result.stderr

    code = "from django.conf import settings; print(settings.DEBUG)"
    result = django_setup(tmp_path, code, DEBUG=None, SECRET_KEY=GOOD_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False"]


def test_the_image_refuses_the_development_key_even_with_debug_on(tmp_path):
    """The Dockerfile sets FLIPTECH_REQUIRE_SECRET_KEY=1: `docker run -e DEBUG=1` still needs a key."""
    result = django_setup(tmp_path, DEBUG="1", FLIPTECH_REQUIRE_SECRET_KEY="1")
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FLIPTECH_REQUIRE_SECRET_KEY=1" in dockerfile
    assert "DEBUG=1" not in dockerfile


def test_production_mode_starts_with_a_proper_secret_key(tmp_path):
    code = "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)"

    result = django_setup(tmp_path, code, DEBUG="0", SECRET_KEY=GOOD_KEY, SITE_URL="https://mail.example.com")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_production_mode_over_plain_http_keeps_cookies_usable(tmp_path):
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"

    result = django_setup(tmp_path, code, DEBUG="0", SECRET_KEY=GOOD_KEY, SITE_URL="http://10.0.0.5:8000")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_email_and_service_urls_come_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings as s\n"
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.DATABASES['default']['ENGINE'],"
        " s.CELERY_BROKER_URL, s.SITE_URL, s.DEFAULT_FROM_EMAIL, s.ANYMAIL['WEBHOOK_SECRET'])"
    )

    result = django_setup(
        tmp_path,
        code,
        EMAIL_URL="smtp+tls://u:p@smtp.example.com:587",
        DATABASE_URL="postgres://app:pw@db.example.com:5432/app",
        CELERY_BROKER_URL="redis://cache.example.com:6379/0",
        SITE_URL="https://mail.example.com/",
        DEFAULT_FROM_EMAIL="Offers <offers@example.com>",
        ANYMAIL_WEBHOOK_SECRET="user:pass",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "True",
        "django.db.backends.postgresql",
        "redis://cache.example.com:6379/0",
        "https://mail.example.com",
        "Offers",
        "<offers@example.com>",
        "user:pass",
    ]


def test_static_files_are_served_by_whitenoise_with_debug_off(tmp_path):
    """collectstatic (the Dockerfile's build step), then admin CSS and the Swagger UI bundle
    come from whitenoise with DEBUG=0 — no web server in front needed."""
    env = {"DEBUG": "0", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "testserver", "STATIC_ROOT": str(tmp_path / "static")}
    collect = django_setup(
        tmp_path,
        "from django.core.management import call_command; call_command('collectstatic', '--noinput', verbosity=0)",
        **env,
    )
    assert collect.returncode == 0, collect.stderr

    code = (
        "from django.test import Client\n"
        "from django.templatetags.static import static\n"
        "c = Client()\n"
        "for name in ('admin/css/base.css', 'drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js'):\n"
        "    r = c.get(static(name))\n"
        "    print(r.status_code, 'max-age' in r.headers.get('Cache-Control', ''), static(name) != '/static/' + name)\n"
    )
    served = django_setup(tmp_path, code, **env)

    assert served.returncode == 0, served.stderr
    # 200, long-lived cache headers, hashed (manifest) file names.
    assert served.stdout.split() == ["200", "True", "True"] * 2


# --- deployment files --------------------------------------------------------------------


def test_compose_file_defines_the_services_and_their_configuration():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]

    assert {"web", "worker", "beat", "migrate", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        for var in (
            "SECRET_KEY",
            "DEBUG",
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CACHE_URL",
            "EMAIL_URL",
            "DEFAULT_FROM_EMAIL",
            "SITE_URL",
        ):
            assert var in env, f"{name} lacks {var}"
        assert str(env["DEBUG"]) in ("0", "False", "false")
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    assert "migrate" in " ".join(services["migrate"]["command"])
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "gunicorn fliptech.wsgi" in " ".join(services["web"]["command"])
    assert "worker" in " ".join(services["worker"]["command"])
    assert "beat" in " ".join(services["beat"]["command"])
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]


def test_procfiles_start_web_worker_and_beat():
    for name in ("Procfile", "Procfile.dev"):
        lines = dict(
            line.split(":", 1)
            for line in (ROOT / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")
        )
        assert set(lines) == {"web", "worker", "beat"}, name
        assert "celery -A fliptech worker" in lines["worker"] and "celery -A fliptech beat" in lines["beat"]
    assert "gunicorn fliptech.wsgi" in (ROOT / "Procfile").read_text()


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_collected_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "pip install" in dockerfile and "requirements.txt" in dockerfile
    assert re.search(r"collectstatic", dockerfile) and "DEBUG=0" in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^CMD \[.*"gunicorn".*"fliptech.wsgi"', dockerfile, re.M)


def test_readme_documents_every_environment_variable_the_settings_read():
    settings_src = (ROOT / "fliptech" / "settings.py").read_text()
    names = set(re.findall(r'(?:env_(?:bool|int|list)|os\.environ(?:\.get)?)[\[(]"([A-Z_]+)"', settings_src))
    readme = (ROOT / "README.md").read_text()

    assert names, "no variables found: the pattern no longer matches settings.py"
    assert sorted(n for n in names if n not in readme) == []
    assert "ANYMAIL_" in readme
