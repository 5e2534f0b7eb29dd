"""The marketers' admin: campaigns with their numbers and controls, leads, templates,
recipients, links and the suppression list — one module per concern:

- `campaigns`: the campaign list, form, actions and buttons (rules from `campaigns.states`);
- `stats` and `chart`: the campaign page's statistics panel (other apps add to it with
  `register_stats_panel`; tracking does);
- `leads`: leads (other apps add to the lead page with `register_lead_panel`; tracking
  adds the events) and the suppression list; `forms`: the admin's input rules; `templates`: templates and their preview;
- `imports`: the lead list's CSV import and export pages; `segments`: the segment builder;
- `history`: recipients and links, read-only; `shared`: what they all use.

Every state change goes through `campaigns.services` (the same guards as the API): a 409
or 400 from a service becomes an admin error message, never a crash. Pages stay fast on
large tables: metrics for a whole changelist page come from one grouped query, foreign
keys use raw-id widgets, and the big lists skip the full-table COUNT.
"""

from . import abtest, campaigns, history, imports, leads, segments, templates  # noqa: F401  (each registers its models)
from .chart import hourly_chart_svg
from .leads import register_lead_panel
from .shared import REFUSALS, ByCampaignFilter, EstimatedCountPaginator, HistoryAdmin, by_pk, error_text
from .stats import register_stats_panel

__all__ = [
    "REFUSALS",
    "ByCampaignFilter",
    "EstimatedCountPaginator",
    "HistoryAdmin",
    "by_pk",
    "error_text",
    "hourly_chart_svg",
    "register_lead_panel",
    "register_stats_panel",
]
