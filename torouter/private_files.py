"""Files and folders that hold the service's data are its user's alone (R18.2, R18.3).

The SQLite database and its WAL and shared-memory files, the usage journal, the mail outbox,
the encryption key and the demo credentials hold money, keys and links: files are created 0600
and folders 0700, whatever the umask. Existing ones are left as the operator set them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "private_file", "private_folder"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """`mkdir -p` where every folder it creates, parents included, is 0700."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # another process made it first
            continue
    return path


def private_file(path: Path) -> Path:
    """Create an empty 0600 file unless there is one, in a private folder.

    SQLite then opens it as an empty database and creates the `-wal` and `-shm` files with
    the same permissions as the database file.
    """
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))
    except FileExistsError:
        # Never open an existing file: SQLite's locks are POSIX locks, owned by the process,
        # and closing *any* descriptor of the file drops them all. A second engine opened in
        # a process already using the database (the usage writer's thread) would unlock the
        # first one's connections under another process's writes: a corrupt database.
        pass
    return path
