"""Which process holds a run: ``host:pid``, and whether that process is still alive."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def current_owner() -> str:
    """This process as a run owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool | None:
    """Whether the process named by ``owner`` is still running.

    Returns:
        ``True`` or ``False`` for a process on this host; ``None`` when that cannot be known (no owner recorded,
        or a process on another host sharing the store file).
    """
    if not owner:
        return None
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    except OSError:
        return None
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    # A killed process whose parent has not reaped it yet still answers signal 0; Linux shows it as state Z.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
