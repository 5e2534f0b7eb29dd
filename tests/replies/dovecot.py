"""A private Dovecot IMAP server on loopback for the poller's tests: Debian's `dovecot-imapd`
(`.ci/setup-dovecot.sh` installs it; the fixture runs it when it is missing), its own
configuration, users and maildirs in a temporary directory, in the foreground on a free
port. Nothing system-wide is touched."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests import daemons

USER, PASSWORD = "replies", "imap-test-pass"

CONFIG = """
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{base}/mail/%u
first_valid_uid = 1
default_internal_user = {internal}
default_login_user = {login}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"""


def binary() -> str | None:
    return daemons.binary("dovecot")


def ensure_installed() -> str | None:
    return daemons.ensure_installed("dovecot", "setup-dovecot.sh")


def free_port() -> int:
    for port in [*range(19000, 19100), 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


def _account(name, fallback):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return pwd.getpwnam(fallback)


class Dovecot:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="fliptech-dovecot-"))
        self.base.chmod(0o755)
        self.port = free_port()
        self.proc = None

    def start(self, timeout=20):
        owner = _account("nobody", "root")
        internal = _account("dovecot", "nobody").pw_name
        login = _account("dovenull", "nobody").pw_name
        for sub in ("run", "state", "mail"):
            (self.base / sub).mkdir()
        os.chown(self.base / "mail", owner.pw_uid, owner.pw_gid)
        (self.base / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        (self.base / "dovecot.conf").write_text(
            CONFIG.format(
                base=self.base, port=self.port, uid=owner.pw_uid, gid=owner.pw_gid, internal=internal, login=login
            )
        )
        self.proc = subprocess.Popen(
            [binary(), "-F", "-c", str(self.base / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.base / "stderr.log", "wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start: {self.logs()}")

    @property
    def url(self) -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def logs(self) -> str:
        return "".join(
            (self.base / name).read_text(errors="replace")[-3000:]
            for name in ("stderr.log", "dovecot.log")
            if (self.base / name).exists()
        )

    def stop(self):
        daemons.stop(self.proc)
        shutil.rmtree(self.base, ignore_errors=True)
