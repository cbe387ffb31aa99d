"""Owner-only files: everything Twin writes under its data folder is 0600 (files) / 0700
(folders), whatever the user's umask, because it holds private chats and API keys.

The CLI also sets umask 077 for the whole process, which covers what libraries create
(qdrant-edge segments, SQLite -wal/-shm files, tokenizer files); these helpers make the modes
hold when Twin is used as a library (the service under another runner, tests) too."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE, DIR_MODE = 0o600, 0o700
OWNER_ONLY_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """mkdir -p with 0700 on every folder this call creates. Folders that exist already keep
    their mode (a path may point into a folder the user shares); `tighten_data_dir` handles
    Twin's own data folder."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, DIR_MODE)
    return path


def tighten_data_dir(path: Path) -> None:
    """Make the twin's data folder (paths.data_dir, `.twin`) 0700, also one made by an older
    version with the umask's 0755: nothing inside is then reachable by other users."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        os.chmod(path, DIR_MODE)


def private_file(path: Path) -> Path:
    """Tighten one file Twin (or a library on its behalf) just created; missing files are skipped."""
    try:
        os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
    return path


def touch_private(path: Path) -> Path:
    """Create `path` (if missing) as an empty 0600 file, e.g. before SQLite opens it: SQLite then
    gives its -wal and -shm files the same mode."""
    path = Path(path)
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    return private_file(path)


def private_tree(root: Path) -> None:
    """Tighten a folder written by a library (the qdrant-edge shard): 0700 folders, 0600 files."""
    root = Path(root)
    if not root.is_dir():
        return
    os.chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
        for name in files:
            target = os.path.join(folder, name)
            if not os.path.islink(target):
                private_file(Path(target))


def write_private_text(path: Path, text: str) -> Path:
    """Create or replace a text file as 0600 from its first byte (no window where it is 0644)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.chmod(path, FILE_MODE)  # O_CREAT's mode is masked by the umask and ignored for existing files
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
