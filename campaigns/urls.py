"""Routes under /api/v1/. Every path answers with and without a trailing slash."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from .api.abtest import CampaignABView, CampaignABWinnerView
from .api.campaigns import CampaignViewSet
from .api.health import HealthView
from .api.imports import LeadExportView, LeadImportCreateView, LeadImportErrorsView, LeadImportView, RecipientExportView
from .api.leads import LeadViewSet
from .api.recipients import CampaignRecipientsView, CampaignRecipientView
from .api.resend import CampaignResendView, CampaignRetryView
from .api.segments import SegmentViewSet
from .api.steps import CampaignStepsView, CampaignStepView
from .api.templates import EmailTemplateViewSet


class Router(SimpleRouter):
    """A SimpleRouter whose routes end in an optional slash (`/?`)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("leads", LeadViewSet, basename="lead")
router.register("templates", EmailTemplateViewSet, basename="template")
router.register("segments", SegmentViewSet, basename="segment")

urlpatterns = [
    # Before the router: "health" would otherwise be taken for a campaign id.
    re_path(r"^campaigns/health/?$", HealthView.as_view(), name="campaign-health"),
    # CSV import and export (campaigns/api/imports.py).
    re_path(r"^leads/import/?$", LeadImportCreateView.as_view(), name="lead-import-create"),
    re_path(r"^leads/imports/(?P<id>[^/]+)/?$", LeadImportView.as_view(), name="lead-import"),
    re_path(r"^leads/imports/(?P<id>[^/]+)/errors\.csv$", LeadImportErrorsView.as_view(), name="lead-import-errors"),
    re_path(r"^leads/export/?$", LeadExportView.as_view(), name="lead-export"),
    re_path(r"^campaigns/(?P<id>[^/]+)/recipients/export/?$", RecipientExportView.as_view(), name="recipient-export"),
    re_path(r"^campaigns/(?P<id>[^/]+)/recipients/?$", CampaignRecipientsView.as_view(), name="campaign-recipients"),
    re_path(
        r"^campaigns/(?P<id>[^/]+)/recipients/(?P<rid>[^/]+)/?$",
        CampaignRecipientView.as_view(),
        name="campaign-recipient",
    ),
    # A/B tests (campaigns/api/abtest.py).
    re_path(r"^campaigns/(?P<id>[^/]+)/ab/?$", CampaignABView.as_view(), name="campaign-ab"),
    re_path(r"^campaigns/(?P<id>[^/]+)/ab/winner/?$", CampaignABWinnerView.as_view(), name="campaign-ab-winner"),
    re_path(r"^campaigns/(?P<id>[^/]+)/resend/?$", CampaignResendView.as_view(), name="campaign-resend"),
    re_path(r"^campaigns/(?P<id>[^/]+)/retry/?$", CampaignRetryView.as_view(), name="campaign-retry"),
    re_path(r"^campaigns/(?P<id>[^/]+)/steps/?$", CampaignStepsView.as_view(), name="campaign-steps"),
    re_path(r"^campaigns/(?P<id>[^/]+)/steps/(?P<sid>[^/]+)/?$", CampaignStepView.as_view(), name="campaign-step"),
    *router.urls,
]
