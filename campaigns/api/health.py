"""Endpoint 6: GET /api/v1/campaigns/health — public, honest about its dependencies."""

import logging
import os

from django.conf import settings
from django.db import connections
from drf_spectacular.utils import OpenApiResponse, extend_schema
from kombu import Connection
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fliptech.throttling import AnonRateThrottle

from ..serializers.campaigns import HealthResponseSerializer

logger = logging.getLogger(__name__)

# Seconds to wait for the broker: a load balancer's probe must not hang.
BROKER_TIMEOUT = 2.0


def database_ok() -> bool:
    """One trivial query on the default database."""
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:  # any failure means "down" for a health probe
        logger.warning("health: database unavailable", exc_info=True)
        return False


def broker_ok() -> bool:
    """Open (and close) a connection to CELERY_BROKER_URL, read at call time, with a short
    timeout and no retries."""
    url = settings.CELERY_BROKER_URL
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {})
    if url.startswith(("redis", "rediss")):
        options.update(socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT)
    if url.startswith("filesystem"):
        # The embedded broker "connects" to anything: check that its folders can be written.
        folders = [options.get("data_folder_in"), options.get("data_folder_out")]
        if not all(folder and os.path.isdir(folder) and os.access(folder, os.W_OK) for folder in folders):
            logger.warning("health: broker folders missing or read-only: %s", folders)
            return False
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)
            # Redis connects lazily: make it answer.
            if url.startswith(("redis", "rediss")):
                conn.default_channel.client.ping()
        return True
    except Exception:  # any failure means "down" for a health probe
        logger.warning("health: broker unavailable", exc_info=True)
        return False


class HealthView(APIView):
    """No authentication: load balancers and uptime monitors call it."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    # The anonymous rate (API_THROTTLE_ANON); a cache that is down lets the probe through.
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        summary="Health check",
        description="Public. 200 when the database and the Celery broker answer, 503 when either does not.",
        auth=[],
        tags=["campaigns"],
        responses={
            200: HealthResponseSerializer,
            503: OpenApiResponse(HealthResponseSerializer, description="Degraded: the database or broker is down."),
        },
    )
    def get(self, request):
        checks = {"database": database_ok(), "broker": broker_ok()}
        healthy = all(checks.values())
        down = [name for name, ok in checks.items() if not ok]
        body = {
            "success": healthy,
            "message": "All systems operational." if healthy else f"Degraded: {', '.join(down)} unavailable.",
            "data": {
                "version": settings.APP_VERSION,
                **{name: "ok" if ok else "unavailable" for name, ok in checks.items()},
            },
        }
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
