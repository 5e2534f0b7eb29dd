#!/usr/bin/env bash
# Debian's SpamAssassin daemon (spamd) for the pre-send checklist's spam_score tests
# (tests/campaigns/spamd.py starts a private instance on loopback, on a free port, from this
# binary; nothing system-wide is started or enabled). Idempotent: apt-get runs only when the
# binary is missing. The rules Debian ships (/usr/share/spamassassin) are used as they are: no
# sa-update, so the tests need no network.
set -euo pipefail
if command -v spamd >/dev/null 2>&1 || [ -x /usr/sbin/spamd ]; then
  exit 0
fi
echo "== installing spamd (SpamAssassin) =="
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends spamd >/dev/null
