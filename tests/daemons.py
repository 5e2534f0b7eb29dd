"""Debian daemons the tests run privately (Dovecot, spamd): find the binary, install it with
its `.ci/setup-*.sh` when missing (as root, like CI), stop the process group it started."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def binary(name: str) -> str | None:
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)


def ensure_installed(name: str, script: str) -> str | None:
    """The binary, after running `.ci/<script>` once if it is missing (root only)."""
    if binary(name) is None and os.geteuid() == 0:
        subprocess.run(["bash", str(ROOT / ".ci" / script)], check=False, timeout=900)
    return binary(name)


def stop(proc) -> None:
    """Stop a daemon started with `start_new_session=True`: its whole process group."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
