from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("tracking.api_urls")),
    path("api/v1/", include("campaigns.urls")),
    path("", include("tracking.urls")),
]

# Unrouted /api/… paths answer {"detail", "code"} JSON like every other API error.
handler404 = "fliptech.api.page_not_found"
