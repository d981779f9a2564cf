"""Private files and folders (R18.2, R18.3): 0600 and 0700 whatever the umask; an operator's
existing choices are left alone."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import GatewayProcess, wait_until
from torouter.private_files import private_file, private_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o002)
    yield
    os.umask(old)


def test_every_folder_created_is_0700_parents_included(tmp_path: Path) -> None:
    existing = tmp_path / "srv"
    existing.mkdir(mode=0o755)
    private_folder(existing / "a" / "b" / "c")
    for path in (existing / "a", existing / "a" / "b", existing / "a" / "b" / "c"):
        assert mode(path) == 0o700, path
    assert mode(existing) == 0o755  # what existed is not touched


def test_a_file_is_created_0600_and_an_existing_one_kept(tmp_path: Path) -> None:
    path = private_file(tmp_path / "data" / "torouter.db")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and path.read_bytes() == b""
    path.write_bytes(b"kept")
    path.chmod(0o640)
    private_file(path)
    assert mode(path) == 0o640 and path.read_bytes() == b"kept"


def test_the_embedded_default_keeps_everything_it_writes_private(tmp_path: Path) -> None:
    """A real `torouter serve` (demo data, a chat request, a sign-up mail), then every file
    under the data folder is 0600 and every folder 0700: database, WAL, SHM, lock, journal
    folder, outbox, encryption key, demo.txt."""
    config = 'data_dir = "{dir}/data"\n[usage]\nflush_interval_s = 0.05\n'
    gw = GatewayProcess(tmp_path, config).start()  # inherits the permissive umask
    try:
        data = tmp_path / "data"
        key = re.search(r"API key:\s+(\S+)", (data / "demo.txt").read_text())
        assert key is not None
        with gw.client() as c:
            r = c.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key.group(1)}"},
                json={"model": "demo-gpt", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 200, r.text
            body = {
                "email": "new@example.com",
                "password": "hunter22x",
                "password_confirm": "hunter22x",
            }
            assert c.post("/api/auth/signup", json=body).status_code == 201
        wait_until(lambda: list((data / "outbox").glob("*.eml")), what="the mail in the outbox")
        running = modes(data)  # the WAL and SHM files exist only while the database is open
    finally:
        gw.stop()
    names = {path.name for path in running}
    for expected in ("torouter.db", "torouter.db-wal", "torouter.db-shm", "encryption.key"):
        assert expected in names
    assert {"demo.txt", "journal", "outbox"} <= names
    for when in (running, modes(data)):
        assert {p: m for p, m in when.items() if m != (0o700 if p.is_dir() else 0o600)} == {}


def modes(folder: Path) -> dict[Path, int]:
    """The mode of `folder` and of everything under it (journal segments come and go)."""
    found = {}
    for path in [folder, *folder.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            found[path] = mode(path)
    return found


def test_an_existing_database_file_is_never_opened_so_the_process_keeps_its_locks(
    tmp_path: Path,
) -> None:
    """SQLite's locks are POSIX record locks, owned by the process: closing any descriptor of
    the file drops them all. A second engine made in a process that already uses the database
    (the usage writer's thread) once dropped the first one's locks, and another process's
    writes then corrupted the file ("database disk image is malformed")."""
    import fcntl
    import subprocess
    import sys

    db = tmp_path / "data" / "torouter.db"
    private_file(db)
    fd = os.open(db, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a POSIX lock, as SQLite takes them
        private_file(db)  # the file exists: must not open (and close) it
        probe = (
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except OSError: print('held')\n"
            "else: print('free')\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe, str(db)], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "held"
    finally:
        os.close(fd)
