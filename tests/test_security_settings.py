"""A real deployment's settings (docs/security.md): check --deploy clean with the documented
environment, a shared cache required loudly, HTTPS and the proxy header from the
environment, a Content-Security-Policy, Django's full password validators, the admin
login lockout and failed API authentications throttled."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent


def documented_environment() -> dict:
    text = (ROOT / "docs" / "security.md").read_text()
    block = re.search(r"```env\n(.*?)```", text, re.S).group(1)
    env = dict(line.split("=", 1) for line in block.splitlines() if line.strip())
    env["SECRET_KEY"] = "p" * 20 + "-a-real-secret-key-for-the-check-only-0123456789"
    return env


def manage(tmp_path, *args, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "DEBUG", "SECRET_KEY", "CACHE_URL", "SECURE_", "CELERY_BROKER"))
    }
    base.update({"FLIPTECH_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "fliptech.settings"})
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_documented_environment(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **documented_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_a_shared_cache_debug_off_warns_loudly(tmp_path):
    env = documented_environment() | {"CACHE_URL": None}
    result = manage(tmp_path, "check", "--deploy", **env)
    assert "fliptech.W001" in result.stdout + result.stderr
    assert "SECURITY: CACHE_URL is not set" in result.stderr  # logged by every process at start


# --- HTTPS and the proxy header ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_proxy_header_is_not_trusted_unless_named(settings):
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/u/some-token/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301 and response["Location"].startswith("https://")

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    response = Client().get("/u/some-token/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code != 301
    assert response["Strict-Transport-Security"].startswith("max-age=3600")


@pytest.mark.django_db
def test_the_health_probe_is_not_redirected(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/api/v1/campaigns/health").status_code in (200, 503)


def test_https_settings_come_from_the_environment(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER)"
    )
    env = documented_environment()
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env, "FLIPTECH_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "fliptech.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "31536000 True ('HTTP_X_FORWARDED_PROTO', 'https')"


# --- Content-Security-Policy --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/u/unknown-token/", "/api/docs/"])
def test_pages_carry_a_content_security_policy_without_inline_scripts(path):
    response = Client().get(path)
    policy = response["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert "'self'" in script_src and "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert "object-src 'none'" in policy and "frame-ancestors 'self'" in policy
    if path == "/api/docs/":
        # The Swagger UI's start-up script is a file of its own, not inline.
        assert not re.search(r"<script>\s*\S", response.content.decode())


# --- passwords ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["short1!", "password123", "12345678901234", "marketer-jane-smith"])
def test_weak_passwords_are_refused(password):
    user = UserFactory(username="marketer-jane-smith", first_name="Jane", last_name="Smith")
    with pytest.raises(ValidationError):
        validate_password(password, user)


@pytest.mark.django_db
def test_a_strong_password_is_accepted():
    validate_password("correct horse battery staple 42", UserFactory(username="jane"))


# --- the admin login lockout ---------------------------------------------------------------------


def staff(username, password, **fields):
    user = UserFactory(username=username, is_staff=True, **fields)
    user.set_password(password)
    user.save()
    return user


def login(username, password, ip="198.51.100.7"):
    return Client(REMOTE_ADDR=ip).post("/admin/login/?next=/admin/", {"username": username, "password": password})


@pytest.mark.django_db
def test_five_failures_lock_the_username_from_that_address_even_with_the_right_password():
    staff("boss", "right-password-1", is_superuser=True)
    for attempt in range(5):
        # The login form again; the fifth failure already answers with the lockout page.
        assert login("boss", "wrong").status_code == (200 if attempt < 4 else 429)
    locked = login("boss", "right-password-1")
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "sessionid" not in locked.cookies
    # Another address, or another username, is not locked.
    assert login("boss", "right-password-1", ip="203.0.113.50").status_code == 302
    staff("other", "other-password-1")
    assert login("other", "other-password-1").status_code == 302


@pytest.mark.django_db
def test_four_failures_then_the_right_password_works():
    staff("boss", "right-password-1")
    for _ in range(4):
        login("boss", "wrong")
    assert login("boss", "right-password-1").status_code == 302


# --- failed API authentications ------------------------------------------------------------------


@pytest.mark.django_db
def test_wrong_tokens_from_one_address_are_throttled(settings, user):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_failures": "3/minute"},
    }
    good = Token.objects.create(user=user).key
    attacker = APIClient(REMOTE_ADDR="198.51.100.9")
    for i in range(3):
        attacker.credentials(HTTP_AUTHORIZATION=f"Token {i:040x}")
        assert attacker.get("/api/v1/campaigns").status_code == 401
    attacker.credentials(HTTP_AUTHORIZATION=f"Token {good}")
    response = attacker.get("/api/v1/campaigns")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and int(response["Retry-After"]) > 0
    other = APIClient(REMOTE_ADDR="198.51.100.10")
    other.credentials(HTTP_AUTHORIZATION=f"Token {good}")
    assert other.get("/api/v1/campaigns").status_code == 200


# --- Celery time limits --------------------------------------------------------------------------


def test_every_task_has_a_soft_and_a_hard_time_limit_below_the_visibility_timeout(settings):
    from fliptech.celery import app

    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert {"campaigns.tasks.send_campaign", "campaigns.tasks.import_leads"} <= set(ours)
    visibility = 3600
    for name, task in ours.items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and 0 < soft < hard < visibility, (name, soft, hard)
    assert ours["campaigns.tasks.send_test_email"].time_limit <= 120  # one render and one message
