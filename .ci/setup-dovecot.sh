#!/usr/bin/env bash
# Dovecot's IMAP server for the reply poller's tests (tests/replies/test_imap.py starts a private
# instance on loopback from this binary; nothing system-wide is started). Idempotent: apt-get
# runs only when the binary is missing.
set -euo pipefail
if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
  exit 0
fi
echo "== installing dovecot-imapd =="
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null
