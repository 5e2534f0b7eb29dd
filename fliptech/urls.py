from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import schema  # noqa: F401  (registers the schema extensions)


class SwaggerView(SpectacularSwaggerSplitView):
    # The split view serves its start-up script from `?script` instead of inline, so the
    # page runs under the Content-Security-Policy (script-src 'self').
    # OPTIONS would send DRF's metadata through the page's HTML renderer, which has no
    # template for it (a 500); the page is for GET only.
    http_method_names = ["get", "head"]


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("tracking.api_urls")),
    path("api/v1/", include("campaigns.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("", include("tracking.urls")),
]

# Unrouted /api/… paths answer {"detail", "code"} JSON like every other API error.
handler404 = "fliptech.api.page_not_found"
