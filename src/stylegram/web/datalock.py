"""One studio per data directory: an OS lock on ``<data-dir>/studio.lock``.

Two studios on one ``--data-dir`` each believe they own its jobs: a start marks the waiting and
running jobs it finds "interrupted" and rewrites their job.json, and removes job folders that look
like a submission stopped half-way, which may be the other studio's submission in flight. So the
studio holds a lock on the folder from before it reads anything there until it stops, and a second
studio refuses to start.

The lock is the operating system's (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows): it
goes with the process, so a studio killed with SIGKILL (or a crash, or a power cut) leaves no stale
lock behind; the file itself stays and only says who held it last. ``flock`` also excludes a second
lock taken in the same process (unlike ``fcntl.lockf``), so two studios in one Python process (the
tests) are kept apart too. Where the file system takes no locks (some network mounts) the studio
starts without one and logs a warning: then, as before, nothing stops a second studio."""
from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger("stylegram.studio")
LOCK_NAME = "studio.lock"
# msvcrt.locking locks bytes from the file's position; Windows' locks are mandatory, so the holder's
# note (at the start of the file) stays readable only if the locked byte lies beyond it
_WINDOWS_LOCK_OFFSET = 1 << 16

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    try:
        import msvcrt
    except ImportError:
        msvcrt = None  # type: ignore[assignment]
else:
    msvcrt = None  # type: ignore[assignment]

_BUSY = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK}


class DataDirLock:
    """The lock on a data directory, held by this studio; ``release()`` (idempotent) frees it."""

    def __init__(self, path: Path, fd: int | None):
        self.path = path
        self._fd = fd

    @property
    def held(self) -> bool:
        """False where the file system took no lock (the studio runs unguarded)."""
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            elif msvcrt is not None:
                os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass  # closing frees it anyway
        finally:
            os.close(fd)


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` without waiting: True when locked, False when another holder has it; OSError
    for a file system that takes no locks."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as e:
        if e.errno in _BUSY:
            return False
        raise
    return True


def holder(path: Path) -> str:
    """What the lock file says of the studio that holds it: ' (pid N, http://...)', or ''."""
    try:
        note = json.loads(Path(path).read_text(encoding="utf-8").strip("\0 \n") or "{}")
        parts = [f"pid {int(note['pid'])}"] if "pid" in note else []
        if note.get("url"):
            parts.append(str(note["url"]))
    except (OSError, ValueError, TypeError, AttributeError):  # being written, or not ours
        return ""
    return f" ({', '.join(parts)})" if parts else ""


def lock_data_dir(data_dir: Path, url: str = "") -> DataDirLock:
    """Take the data directory's lock for this process, noting its pid and ``url`` in the file; a
    ConfigError (one line: the folder, the holder's pid and address where known, what to do) when
    another studio holds it. The folder must exist (``check_folders``)."""
    path = Path(data_dir) / LOCK_NAME
    if fcntl is None and msvcrt is None:
        log.warning("no file locks on this system: nothing stops a second studio on --data-dir %s", data_dir)
        return DataDirLock(path, None)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"--data-dir {data_dir}: cannot open its lock file {LOCK_NAME} ({e.strerror or e}); "
                          "give a folder you can write to") from None
    try:
        locked = _try_lock(fd)
    except OSError as e:
        log.warning("--data-dir %s: its file system takes no lock (%s); nothing stops a second studio on it",
                    data_dir, e.strerror or e)
        os.close(fd)
        return DataDirLock(path, None)
    if not locked:
        os.close(fd)
        raise ConfigError(f"--data-dir {data_dir}: in use by another studio{holder(path)}; stop that studio or "
                          "give another --data-dir")
    try:
        note = json.dumps({"pid": os.getpid(), "url": url}).encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, note + b"\n")
    except OSError as e:  # the lock holds all the same; only the note for a second studio is missing
        log.warning("could not write %s (%s)", path, e)
    return DataDirLock(path, fd)
