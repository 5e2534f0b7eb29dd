"""Webhooks in the admin: endpoints (URL checked against SSRF like the API, the secret
write-only) and the delivery log (read-only, filtered by endpoint, with "retry now")."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from campaigns.admin import HistoryAdmin

from . import urls_safe
from .models import EventType, WebhookDelivery, WebhookEndpoint
from .serializers import SECRET_MIN

Status = WebhookDelivery.Status


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        min_length=SECRET_MIN,
        max_length=255,
        required=False,
        help_text="Signs every body (X-FlipTech-Signature). Never shown again; leave empty to keep the current one.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "secret", "active", "description"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            urls_safe.check(url)
        except urls_safe.UnsafeURL as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url

    def clean_secret(self):
        secret = self.cleaned_data.get("secret") or ""
        if not secret and not self.instance.pk:
            raise forms.ValidationError("A new endpoint needs a secret.")
        return secret or self.instance.secret


def deliveries_url(endpoint_pk: int, status: str | None = None) -> str:
    params = {"endpoint": endpoint_pk, **({"status__exact": status} if status else {})}
    return reverse("admin:webhooks_webhookdelivery_changelist") + "?" + urlencode(params)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    # No per-endpoint delivery counts here: they would count a big table on every page view.
    list_display = ["url", "event_list", "active", "log"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = ["log", "created_at", "updated_at"]

    @admin.display(description="events")
    def event_list(self, endpoint):
        return ", ".join(endpoint.events)

    @admin.display(description="delivery log")
    def log(self, endpoint):
        if not endpoint.pk:
            return "—"
        return format_html(
            '<a href="{}">deliveries</a> · <a href="{}">failed</a>',
            deliveries_url(endpoint.pk),
            deliveries_url(endpoint.pk, Status.FAILED),
        )


class EndpointFilter(admin.SimpleListFilter):
    """One endpoint's deliveries (`?endpoint=<pk>`), reached from the endpoint list."""

    title = "endpoint"
    parameter_name = "endpoint"

    def lookups(self, request, model_admin):
        return [(str(e.pk), e.url) for e in WebhookEndpoint.objects.order_by("url")[:50]]

    def queryset(self, request, queryset):
        from fliptech.ids import parse_pk

        if self.value() is None:
            return queryset
        pk = parse_pk(self.value())
        return queryset.filter(endpoint_id=pk) if pk else queryset.none()


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(HistoryAdmin):
    """The delivery log: what was sent where, how often, and what the endpoint answered."""

    list_display = [
        "id",
        "created_at",
        "type",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = [EndpointFilter, "status", "type"]
    search_fields = ["=event_id"]
    list_select_related = ["endpoint"]
    actions = ["retry_now"]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request):
        """The log itself is history (view-only, `HistoryAdmin`); asking for a delivery again
        takes the model's change permission."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description="Retry the selected deliveries now", permissions=["retry"])
    def retry_now(self, request, queryset):
        """Failed or pending deliveries are due at once (delivered ones are left alone). A
        failed one gets one more attempt: its WEBHOOKS_RETRY_FOR_SECONDS are over, so if that
        attempt fails too it is failed again."""
        now = timezone.now()
        count = queryset.exclude(status=Status.DELIVERED).update(status=Status.PENDING, next_attempt_at=now)
        self.message_user(request, f"{count} deliveries due now.", messages.SUCCESS)
