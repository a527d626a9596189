"""A run directory is claimed by one process at a time.

    with claim_run_dir("runs/sst2", owner="bert-zoo finetune", flag="--out"):
        ...                                        # write model.keras, history.jsonl, backup/ ... in runs/sst2

The claim is the marker file ``<dir>/.bert-zoo-run.lock``: created with ``O_CREAT | O_EXCL`` when absent, it
holds the owner's pid, host, command and start time, and the owner keeps an exclusive ``flock`` on it for as
long as the claim lasts. A second process (or a second claim in another thread of code) finds the lock taken
and gets :class:`RunDirBusyError` — one line naming the directory and the pid holding it — before it writes
anything there. A marker left by a process that died (``kill -9``, a crash, a power cut) holds no lock any
more: it is stale, and the next claim takes it over (the kernel drops ``flock`` locks with the process, so a
reused pid cannot make a dead owner look alive). On release the marker is removed.

Within one process a claim is re-entrant: ``fit_task`` claims its ``out_dir`` too, and inside the CLI's claim
of the same directory that is a no-op. Needs ``fcntl`` (POSIX); where it is missing the marker is still written
and a marker whose pid is alive on this host counts as held.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import threading

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["RunDirBusyError", "claim_run_dir", "LOCK_NAME", "read_claim"]

LOCK_NAME = ".bert-zoo-run.lock"

logger = logging.getLogger(__name__)

_held: dict[str, int] = {}           # real path -> nesting depth of this process's claims
_held_lock = threading.Lock()


class RunDirBusyError(OSError):
    """Another live process holds the run directory."""


def read_claim(path) -> dict:
    """The owner record of the marker in directory ``path`` ({} when absent or unreadable)."""
    try:
        with open(os.path.join(path, LOCK_NAME), encoding="utf-8") as f:
            return json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return isinstance(pid, int)
    return True


def _busy(path, flag, record) -> RunDirBusyError:
    where = f"{flag} {path}" if flag else f"run directory {path}"
    who = f"pid {record.get('pid', '?')}"
    if record.get("host") and record["host"] != socket.gethostname():
        who += f" on {record['host']}"
    extra = ", ".join(str(record[k]) for k in ("command", "started") if record.get(k))
    return RunDirBusyError(f"{where}: in use by another run ({who}{', ' + extra if extra else ''}); wait for it to "
                           f"finish or choose another directory")


def _open_locked(lock_path: str):
    """(fd, record of the previous owner or None) with the exclusive lock taken; None when another holds it."""
    for _ in range(100):      # the marker may vanish (its owner released it) between our open and our lock
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                continue
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if not same:                       # we locked a marker its owner just removed: try the new one
            os.close(fd)
            continue
        return fd
    raise RunDirBusyError(f"{lock_path}: the run marker keeps changing (many processes racing for it)")


def _acquire(path: str, owner: str, flag: str | None) -> int:
    lock_path = os.path.join(path, LOCK_NAME)
    fd = _open_locked(lock_path)
    if fd is None:
        raise _busy(path, flag, read_claim(path))
    previous = read_claim(path)
    if fcntl is None and previous.get("pid") not in (None, os.getpid()) and _pid_alive(previous["pid"]):
        os.close(fd)
        raise _busy(path, flag, previous)
    if previous.get("pid") not in (None, os.getpid()):
        logger.warning("%s: took over the run marker of pid %s, which is no longer running", path,
                       previous.get("pid"))
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": owner,
              "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(record).encode("utf-8"))
    os.fsync(fd)
    return fd


@contextlib.contextmanager
def claim_run_dir(path, owner: str = "", flag: str | None = None):
    """Hold directory ``path`` (created if needed) for this process for the duration of the block.

    ``owner``: what the marker says holds it (e.g. ``"bert-zoo finetune"``); ``flag``: how the error names the
    directory (``"--out"``). Raises :class:`RunDirBusyError` when another live process holds it; nothing is
    written in ``path`` then. A stale marker (its process gone) is taken over."""
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    key = os.path.realpath(path)
    with _held_lock:
        if _held.get(key):
            _held[key] += 1
            fd = None
        else:
            fd = _acquire(path, owner, flag)
            _held[key] = 1
    try:
        yield
    finally:
        with _held_lock:
            _held[key] -= 1
            if fd is not None:
                del _held[key]
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(path, LOCK_NAME))   # removed while still locked: no one else
                os.close(fd)                                   # can have taken it in between
