"""What the tests know of the stack's processes: children, process groups and memory."""

from __future__ import annotations

import contextlib
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, parent pid, process group, ..."""
    # The command name may hold spaces; everything after its ")" is fixed.
    text = (PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _live_where(field: int, value: int) -> list[int]:
    """Live (not zombie) pids whose `_stat_fields(pid)[field]` is `value`."""
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            fields = _stat_fields(int(entry.name))
            if int(fields[field]) == value and fields[0] != "Z":
                pids.append(int(entry.name))
    return sorted(pids)


def process_group(pgid: int) -> list[int]:
    """Live pids whose process group is `pgid` (a Service's whole group)."""
    return _live_where(2, pgid)


def children(pid: int) -> list[int]:
    """Live direct children of `pid` (a prefork worker's pool processes)."""
    return _live_where(1, pid)


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc/PID/status (0 if it is gone)."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def group_rss_kib(pgid: int) -> int:
    """Resident memory of a whole process group (a worker and its pool processes)."""
    return sum(rss_kib(pid) for pid in process_group(pgid))
