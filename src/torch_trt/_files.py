"""Files shared between processes: atomic writes and an inter-process lock.

Used by the engine cache (``cache.py``: entries, the timing cache) and by the GPU runtime
(``runtime/runtime_cache.py``: TensorRT-RTX's runtime cache). A reader never sees a half
written file: writers fill a temporary file in the same directory and rename it into place.

Example:
    >>> with file_lock(root / "x.lock", timeout=60.0):
    ...     write_atomic(root / "x.bin", [b"header", payload])
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import sys
import time
import uuid
from collections.abc import Iterator

log = logging.getLogger("torch_trt")

# The engine cache's directory when the ``cache_dir`` setting is not given; the GPU runtime
# keeps TensorRT-RTX's runtime cache there too.
CACHE_DIR_ENV = "TORCH_TRT_CACHE_DIR"


def write_atomic(path: pathlib.Path, parts: list[bytes | bytearray]) -> None:
    """Write ``parts`` to a temporary file next to ``path`` and rename it over ``path``.

    No fsync: a file damaged by a crash fails the reader's own checks and is rebuilt.

    Raises:
        OSError: the directory is not writable or the disk is full (nothing is left behind).
    """
    tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex}.part"
    # os.open with 0o666 honours the umask, so a cache shared by a group stays readable.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


if sys.platform == "win32":
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Take the lock on open file ``fd`` without waiting; False when another holds it."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Take the lock on open file ``fd`` without waiting; False when another holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def file_lock(path: pathlib.Path, timeout: float) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (flock, or msvcrt on Windows).

    The OS drops it when its holder dies. Past ``timeout`` we go on without it (with a
    warning): what it guards stays correct, since files are renamed into place whole.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        locked = try_lock(fd)
        while not locked and time.monotonic() < deadline:
            time.sleep(0.05)
            locked = try_lock(fd)
        if not locked:
            log.warning("torch-trt: gave up waiting for cache lock %s after %.0f s", path, timeout)
        try:
            yield
        finally:
            if locked:
                _unlock(fd)
    finally:
        os.close(fd)
