"""One writer per store folder: an exclusive flock on `<folder>/lock`, held while a process has
the store open (the service for its whole life, `twin memory index` while it runs).

The lock file is never deleted (a rebuild empties the folder around it), so a second process
always contends on the same inode; a process that finds its lock file gone or replaced knows
the folder was removed under it (`StoreLock.check`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from twin.errors import StoreError, StoreLockedError
from twin.private import FILE_MODE, private_dir

LOCK_FILE = "lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; qdrant-edge's own WAL lock still refuses a second opener
    fcntl = None


class StoreLock:
    def __init__(self, folder: Path, *, wait: float = 2.0, what: str = "memory store"):
        self.folder, self.path, self.what = Path(folder), Path(folder) / LOCK_FILE, what
        private_dir(self.folder)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        os.chmod(self.path, FILE_MODE)
        deadline = time.monotonic() + wait
        while not self._try_lock():
            if time.monotonic() >= deadline:
                holder = self._holder()
                os.close(self.fd)
                self.fd = None
                raise StoreLockedError(
                    f"{self.folder}: the {what} is in use by another twin process{holder}; stop it "
                    f"(e.g. `twin serve`) or wait for it to finish, then retry")
            time.sleep(0.1)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()} {' '.join(sys.argv[:3])}\n".encode(), 0)
        self.inode = os.fstat(self.fd).st_ino

    def _try_lock(self) -> bool:
        if fcntl is None:
            return True
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _holder(self) -> str:
        try:
            text = os.pread(self.fd, 200, 0).decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return f" (pid {text})" if text else ""

    def check(self) -> None:
        """Raise StoreError if the folder was deleted or replaced since the lock was taken."""
        try:
            same = os.stat(self.path).st_ino == self.inode
        except FileNotFoundError:
            same = False
        if not same:
            raise StoreError(f"{self.folder}: the {self.what} was removed or replaced while this process "
                             f"had it open; restart it after `twin memory index`")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None
