"""What issue 14's protections cost, in this process, each beside its own baseline in the same run:

- render: one message of bench/send.py's 20 KB template (5 personalised fields, 10 links),
  rendered with the render budget (guarded nodes, a deadline and a size count) and without
  (the same template compiled unguarded) — p50 per message, alternating rounds;
- API call: `GET /api/v1/campaigns` with a token through the whole middleware and DRF stack,
  with throttling (DRF's per-user rate, the failed-authentication throttle: a cache read each)
  and the login lockout middleware (django-axes), and without any of them — p50 per call,
  alternating rounds.

    CACHE_URL=redis://127.0.0.1:6379/10 DATABASE_URL=postgres://… .venv/bin/python bench/security_cost.py

Uses the configured database (a test database it creates and drops) and cache. Options:
--renders N (2000), --calls N (2000), --rounds N (5).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")


def p50_us(samples) -> float:
    return statistics.median(samples) * 1e6


def render_cost(n, rounds):
    from bench.send import make_html
    from campaigns import rendering
    from campaigns.rendering import budget

    context = rendering.context_for(
        lead=rendering.lead_data(), campaign=rendering.campaign_data(), unsubscribe=rendering.unsubscribe_url("t")
    )
    compiled = {}
    for guarded in (True, False):
        budget.GUARD = guarded
        compiled[guarded] = rendering.compile_message(subject="Hi {{ lead.first_name }}", body_html=make_html())
    budget.GUARD = True
    samples = {True: [], False: []}
    for _ in range(rounds):
        for guarded in (True, False):
            message = compiled[guarded]
            for _ in range(n // rounds):
                start = time.perf_counter()
                message.render(context)
                samples[guarded].append(time.perf_counter() - start)
    on, off = p50_us(samples[True]), p50_us(samples[False])
    print(
        f"render one message: with the budget p50 {on:.0f} µs, without {off:.0f} µs "
        f"→ +{on - off:.0f} µs (+{100 * (on - off) / off:.1f}%)"
    )


def api_cost(n, rounds):
    """Two clients side by side, calls alternated one by one (protected, bare, protected, …),
    so a change of the machine's load reaches both sides alike. The bare client's handler was
    built without axes' middleware; for its calls DRF's throttles are switched off (the views'
    `get_throttles` answers nothing) and the token authentication is DRF's plain one."""
    from django.conf import settings
    from django.test.utils import override_settings, setup_test_environment
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient
    from rest_framework.views import APIView

    from fliptech import authentication
    from tests.factories import CampaignFactory, UserFactory

    setup_test_environment()
    from django.test.utils import get_runner

    runner = get_runner(settings)(verbosity=0, interactive=False)
    old = runner.setup_databases()
    protected_authenticate = authentication.TokenAuthentication.authenticate
    plain_authenticate = authentication.authentication.TokenAuthentication.authenticate
    protected_throttles = APIView.get_throttles
    state = {"on": True}

    def set_protection(on):
        state["on"] = on
        authentication.TokenAuthentication.authenticate = protected_authenticate if on else plain_authenticate

    APIView.get_throttles = lambda view: protected_throttles(view) if state["on"] else []
    try:
        user = UserFactory(username="bench", is_superuser=True)
        CampaignFactory.create_batch(5, created_by=user)
        key = Token.objects.create(user=user).key
        clients = {}
        for on in (True, False):
            middleware = settings.MIDDLEWARE if on else [m for m in settings.MIDDLEWARE if not m.startswith("axes.")]
            with override_settings(MIDDLEWARE=middleware):
                clients[on] = APIClient()
                clients[on].credentials(HTTP_AUTHORIZATION=f"Token {key}")
                set_protection(on)
                for _ in range(10):  # warm; the handler loads its middleware on the first call
                    clients[on].get("/api/v1/campaigns")
        samples = {True: [], False: []}
        for _ in range(n):
            for on in (True, False):
                set_protection(on)
                start = time.perf_counter()
                response = clients[on].get("/api/v1/campaigns")
                samples[on].append(time.perf_counter() - start)
                assert response.status_code == 200, response.content
        on, off = p50_us(samples[True]), p50_us(samples[False])
        pairs = sorted(a - b for a, b in zip(samples[True], samples[False], strict=True))
        print(
            f"API call (GET /api/v1/campaigns, token, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}), "
            f"{n} calls each, alternated: with throttling and lockout p50 {on:.0f} µs, without {off:.0f} µs "
            f"→ {on - off:+.0f} µs; median of the call-by-call differences {statistics.median(pairs) * 1e6:+.0f} µs "
            "(target < 1000 µs)"
        )
    finally:
        APIView.get_throttles = protected_throttles
        set_protection(True)
        runner.teardown_databases(old)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (start)")
    render_cost(args.renders, args.rounds)
    api_cost(args.calls, args.rounds)
    print(f"load average {os.getloadavg()[0]:.1f} (end)")


if __name__ == "__main__":
    main()
