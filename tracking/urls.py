"""Public, unauthenticated paths: pixel, click, unsubscribe, provider webhooks."""

from anymail import urls as anymail_urls
from django.urls import include, re_path

from . import views, webhooks

urlpatterns = [
    re_path(r"^t/o/(?P<token>[A-Za-z0-9_-]{1,64})\.gif$", views.open_pixel, name="tracking-open"),
    # Any other token still gets the GIF (and records nothing).
    re_path(r"^t/o/(?P<token>[^/]*)\.gif$", views.open_pixel),
    re_path(
        r"^t/c/(?P<token>[A-Za-z0-9_-]{1,64})/(?P<link_id>[0-9]{1,18})/?$",
        views.click,
        name="tracking-click",
    ),
    re_path(r"^u/(?P<token>[A-Za-z0-9_-]{1,64})/?$", views.unsubscribe, name="tracking-unsubscribe"),
    re_path(r"^v/(?P<token>[A-Za-z0-9_-]{1,64})/?$", views.view_in_browser, name="tracking-view-in-browser"),
    re_path(r"^anymail/", include((webhooks.guarded(anymail_urls.urlpatterns), anymail_urls.app_name))),
]
