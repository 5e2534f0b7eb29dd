"""Outgoing webhooks: endpoints that hear about sends, opens, clicks, replies, bounces,
unsubscribes, complaints and campaign status changes (docs/webhooks.md).

- `models`: endpoints and their deliveries (one row per event and endpoint);
- `events`: the event types, and the database triggers that write a delivery row in the
  same transaction as the event it reports (whichever code path recorded the event);
- `urls_safe`: the SSRF check of an endpoint's URL (at save and at every delivery);
- `payloads`: what is POSTed, and its signature;
- `delivery`: the worker's claim, send and record loop; `tasks`: the beat-driven task;
- `api`, `serializers`, `urls`: `/api/v1/webhooks`; `admin`: endpoints and the delivery log.

`webhooks` imports `campaigns` and `tracking`, never the reverse: the triggers read their
tables, so neither knows webhooks exist.
"""
