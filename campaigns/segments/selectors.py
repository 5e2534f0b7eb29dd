"""Reads on segments: members, counts, preview — each one query, computed by the database."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from ..models import Lead, Segment, Suppression
from .compiler import rules_q
from .rules import rules_clean

SAMPLE_SIZE = 10


def _suppressed() -> Exists:
    return Exists(Suppression.objects.filter(email=Lower(OuterRef("email"))))


def rules_matching(rules: dict) -> QuerySet[Lead]:
    """Every lead the rules match, suppressed addresses included (callers that report them
    need them, e.g. adding to a campaign); unordered. `rules` as stored (cleaned here)."""
    return Lead.objects.order_by().filter(rules_q(rules_clean(rules, check_campaigns=False)))


def rules_members(rules: dict) -> QuerySet[Lead]:
    """The members the rules define: matching leads whose address is not suppressed."""
    return rules_matching(rules).exclude(_suppressed())


def segment_leads(segment: Segment) -> QuerySet[Lead]:
    """The segment's members now — every lead its rules match, minus suppressed addresses —
    as one unordered Lead queryset (a single SELECT, whatever the rules). Order, slice,
    `.count()` or stream it (`.iterator()`) as needed; the lead export (`segment_id`) and
    `GET /segments/{id}/leads` use this."""
    return rules_members(segment.rules)


def rules_preview(rules: dict) -> dict:
    """`{"lead_count", "suppressed_count", "sample"}` for unsaved rules; two queries: one
    aggregate (members and suppressed matches counted in one scan) and the sample (the
    10 newest members, as Lead objects)."""
    counts = rules_matching(rules).aggregate(
        members=Count("pk", filter=~Q(_suppressed())), suppressed=Count("pk", filter=Q(_suppressed()))
    )
    sample = list(rules_members(rules).order_by("-created_at", "-pk")[:SAMPLE_SIZE])
    return {"lead_count": counts["members"], "suppressed_count": counts["suppressed"], "sample": sample}


def segment_counts(segments) -> dict[int, int]:
    """{segment pk: member count} for `segments` (a page of a list) in ONE query: one scan
    of the leads with a `COUNT(*) FILTER (WHERE <rules>)` per segment."""
    segments = list(segments)
    if not segments:
        return {}
    aggregates = {
        f"s{segment.pk}": Count("pk", filter=rules_q(rules_clean(segment.rules, check_campaigns=False)) or Q(pk__gt=0))
        for segment in segments
    }
    counts = Lead.objects.order_by().exclude(_suppressed()).aggregate(**aggregates)
    return {segment.pk: counts[f"s{segment.pk}"] for segment in segments}
