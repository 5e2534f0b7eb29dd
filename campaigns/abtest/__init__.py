"""A/B tests (the contract's `ab_test`; docs/ab-tests.md), by concern:

- `config`: the `ab_test` object's validation and defaults;
- `assign`: the set-based random split at launch and the release of the held rest;
- `significance`: the two-sided two-proportion z-test;
- `results`: per-variant figures, people only, and the test's status;
- `decide`: choosing the winner (beat at `duration`, or a person) and sending the rest with it;
- `content`: the campaign as a variant sees it (subject, sender name, template).
"""
