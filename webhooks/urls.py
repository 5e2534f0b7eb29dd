"""Routes under /api/v1/: /webhooks (with and without a trailing slash)."""

from campaigns.urls import Router

from .api import WebhookEndpointViewSet

router = Router()
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")

urlpatterns = router.urls
