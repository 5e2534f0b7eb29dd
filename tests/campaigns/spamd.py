"""A private SpamAssassin spamd on loopback for the checklist's spam_score tests: Debian's
`spamd` (`.ci/setup-spamassassin.sh` installs it; the fixture runs it when it is missing), in
the foreground on a free port, local tests only (`-L`: no network lookups), no per-user
configuration (`-x`), the rules Debian ships. Nothing system-wide is touched."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests import daemons


def binary() -> str | None:
    return daemons.binary("spamd")


def ensure_installed() -> str | None:
    return daemons.ensure_installed("spamd", "setup-spamassassin.sh")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Spamd:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="fliptech-spamd-"))
        self.base.chmod(0o777)
        self.port = free_port()
        self.proc = None

    def start(self, timeout=120):
        command = [
            binary(),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--allowed-ips",
            "127.0.0.1",
            "--local",
            "--nouser-config",
            "--min-children",
            "1",
            "--max-children",
            "2",
            "--syslog",
            "stderr",
            "--pidfile",
            str(self.base / "spamd.pid"),
            "--helper-home-dir",
            str(self.base),
        ]
        if os.geteuid() == 0:
            command += ["--username", "nobody"]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=open(self.base / "stderr.log", "wb"), start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    sock.sendall(b"PING SPAMC/1.5\r\n\r\n")
                    if b"PONG" in sock.recv(100):
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"spamd did not start: {self.logs()}")

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def logs(self) -> str:
        log = self.base / "stderr.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def stop(self):
        daemons.stop(self.proc)
        shutil.rmtree(self.base, ignore_errors=True)
