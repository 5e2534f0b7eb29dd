"""Saved segments: rules as data (`rules`), compiled to one WHERE clause (`compiler`, `sql`),
read by `selectors` (`segment_leads(segment)` is the members queryset other features use)."""
