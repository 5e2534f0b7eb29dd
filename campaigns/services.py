"""Writes on campaigns. Every status change goes through `states.transition`.

Each function asks `campaigns.states` what the status allows, changes the row with one
conditional UPDATE (so two concurrent calls cannot both win), and queues Celery work by
name only on commit (`campaigns.queue`). Refusals are `campaigns.exceptions` (InvalidState,
NotFound, BadRequest, Invalid), which the API and the admin turn into answers.
"""

from email.utils import parseaddr

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import checklist, queue, quotas, rendering, states
from .abtest import decide as abtest
from .exceptions import BadRequest, Invalid, InvalidState
from .models import Campaign

# The rules live in `states`; these names stay here for the callers that know them.
CONTENT_FIELDS = states.CONTENT_FIELDS
UPDATABLE_FIELDS = states.UPDATABLE_FIELDS
transition = states.transition


def _sender_defaults() -> dict:
    """from_name/from_email from DEFAULT_FROM_EMAIL ("Name <addr>"), reply_to from
    DEFAULT_REPLY_TO."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return {"from_name": name, "from_email": address, "reply_to": settings.DEFAULT_REPLY_TO}


def campaign_create(*, user, **fields) -> Campaign:
    """A draft campaign owned by `user`.

    Decision: sender fields left empty are filled from the settings at creation, so the
    campaign shows (and keeps) the sender it will use, as Mailchimp's audience defaults do.
    """
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"campaign_create: unknown fields {sorted(unknown)}")
    for name, default in _sender_defaults().items():
        if not fields.get(name):
            fields[name] = default
    created_by = user if user is not None and user.is_authenticated else None
    return Campaign.objects.create(created_by=created_by, **fields)


def campaign_update(*, campaign: Campaign, **fields) -> Campaign:
    """Write `fields` (a subset of UPDATABLE_FIELDS) if the status allows it.

    Draft, scheduled and paused campaigns are editable; content fields (template, subject,
    sender, tracking switches) only in draft and scheduled. A scheduled campaign keeps a
    time: clearing `scheduled_at` is refused (pause it to unschedule). The status check and
    the write are one conditional UPDATE, so a campaign launched meanwhile is not edited.
    """
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"campaign_update: unknown fields {sorted(unknown)}")
    allowed, writable, doing = states.update_rule(fields)
    states.require(campaign, allowed, doing)
    if states.clears_schedule(fields) and states.needs_schedule(campaign.status):
        raise Invalid({"scheduled_at": ["A scheduled campaign needs a time; pause it to unschedule."]})
    if not fields:
        return campaign
    return states.guarded_update(campaign=campaign, allowed=writable, doing=doing, **fields)


def campaign_delete(*, campaign: Campaign) -> Campaign:
    """Soft delete: the row stays (its recipients and events are history) but the campaign
    is gone for every API call and list, and its name is free again. Refused while
    running (pause it first)."""
    now = timezone.now()
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=states.DELETABLE).update(
        deleted_at=now, updated_at=now
    )
    if updated != 1:
        states.refresh_or_404(campaign)
        raise InvalidState("Cannot delete a running campaign; pause it first.")
    campaign.deleted_at = now
    return campaign


def _check_sendable(campaign: Campaign, *, leads=(), recipients=()) -> None:
    """A template is set and the campaign's subject and bodies render, within the render
    budget, for sample data and for `leads` / `recipients` (400 otherwise)."""
    if campaign.template_id is None:
        raise BadRequest("The campaign has no template; set template_id first.", code="template_missing")
    rendering.check_campaign_renders(campaign=campaign, leads=leads, recipients=recipients)


def campaign_launch(
    *,
    campaign: Campaign,
    user=None,
    send_immediately: bool = True,
    scheduled_at=None,
    test_mode: bool = False,
    test_email: str | None = None,
    send_rate_per_hour: int | None = None,
) -> Campaign:
    """Start sending now (draft/scheduled → running) or schedule it (draft → scheduled).

    - `send_immediately=False` needs a future `scheduled_at`, given here or already on the
      campaign; celery-beat launches it once that time has passed.
    - Needs the pre-send checklist ready (`campaigns.checklist`: at least one pending
      recipient, a template that renders, …; else `NotReady`, 409 `not_ready` with the
      failing checks); a template over the render budget is `TemplateTooCostly` (400) before
      that; a status the table forbids is `InvalidState` (409). Of two concurrent launches
      exactly one wins.
    - `test_mode=True` only sends one test message to `test_email` (like
      `campaign_send_test`) and leaves the campaign, its status included, unchanged.
    - `send_rate_per_hour`, when given, is stored in the same UPDATE.
    - On running, an A/B test splits the recipients (`campaigns.abtest`) and
      `campaigns.tasks.send_campaign` is queued once the transaction commits.

    `user` is accepted for auditing by callers; the launch does not depend on it.
    """
    if test_mode:
        if not test_email:
            raise Invalid({"test_email": ["Required when test_mode is true."]})
        campaign_send_test(campaign=campaign, test_email=test_email, user=user)
        return campaign

    action = "launch" if send_immediately else "schedule"
    states.require(campaign, states.TRANSITIONS[action][0], action)

    fields = {}
    if send_rate_per_hour is not None:
        fields["send_rate_per_hour"] = send_rate_per_hour
    if send_immediately:
        fields["started_at"] = Coalesce(F("started_at"), Value(timezone.now()))
    else:
        when = scheduled_at or campaign.scheduled_at
        if when is None:
            raise Invalid({"scheduled_at": ["Required when send_immediately is false."]})
        if when <= timezone.now():
            raise Invalid({"scheduled_at": ["Must be in the future."]})
        fields["scheduled_at"] = when

    # The pre-send checklist: a template over the render budget is a 400 first, any check at
    # `error` (no pending recipient, no template or one that does not render, …) a 409 not_ready.
    checklist.require_ready(campaign=campaign)

    with transaction.atomic():
        states.transition(campaign=campaign, action=action, **fields)
        if send_immediately:
            abtest.start(campaign=campaign)  # an A/B test's split, before the sender can claim
            queue.send_on_commit(queue.SEND_CAMPAIGN, campaign.pk)
    return campaign


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """running → paused (sets `paused_at`): the sender starts no new message after this
    commits. scheduled → draft (unschedule; `scheduled_at` is cleared)."""
    if states.pause_action(campaign.status) == "unschedule":
        return states.transition(campaign=campaign, action="unschedule", scheduled_at=None)
    return states.transition(campaign=campaign, action="pause", paused_at=timezone.now(), pause_reason="")


def campaign_resume(*, campaign: Campaign) -> Campaign:
    """paused → running (clears `paused_at`), then `campaigns.tasks.send_campaign` on commit: only
    recipients not yet sent are sent."""
    with transaction.atomic():
        states.transition(campaign=campaign, action="resume", paused_at=None, pause_reason="")
        abtest.on_resume(campaign=campaign)
        queue.send_on_commit(queue.SEND_CAMPAIGN, campaign.pk)
    return campaign


def campaign_send_test(*, campaign: Campaign, test_email: str, lead=None, user=None) -> None:
    """Queue one real test message to `test_email` (subject prefixed "[TEST] ",
    personalised with `lead` or sample data, not counted in stats). Allowed in every
    status; needs a template that renders within the budget, for `lead` too; at most
    `TEST_SEND_LIMIT` an hour per user (Throttled, 429)."""
    _check_sendable(campaign, leads=[lead] if lead is not None else ())
    quotas.take_test_send(user)
    queue.send_on_commit(queue.SEND_TEST_EMAIL, campaign.pk, test_email, lead.pk if lead is not None else None)
