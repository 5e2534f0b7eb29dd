"""CPU time of processes, from /proc: a figure that other programs loading a shared machine
barely move, unlike a rate (bench/send.py's worker, bench/webhooks.py's pixel)."""

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_seconds(*pids: int) -> float:
    """User + system CPU seconds so far of `pids` and all their descendants; a process that
    has gone counts nothing."""
    total, stack = 0, list(pids)
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            stack += children(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")
