from __future__ import annotations

import pytest

from torouter.accounts.passwords import (
    hash_password,
    is_password_hash,
    needs_rehash,
    verify_password,
)


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password("correct horse")


def test_hash_is_argon2id_and_salted(stored: str) -> None:
    assert stored.startswith("$argon2id$") and is_password_hash(stored)
    assert hash_password("correct horse") != stored
    assert not needs_rehash(stored)


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("correct horse", True),
        ("correct horse ", False),
        ("Correct horse", False),
        ("", False),
    ],
)
def test_verify(stored: str, password: str, ok: bool) -> None:
    assert verify_password(password, stored) is ok


@pytest.mark.parametrize("bad_hash", [None, "", "not-a-hash", "$2b$12$bcrypthashvalue"])
def test_verify_without_a_usable_hash_is_false(bad_hash: str | None) -> None:
    assert verify_password("anything", bad_hash) is False


@pytest.mark.parametrize(
    ("value", "ok"),
    [("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", True), ("$argon2i$v=19$x", False)],
)
def test_is_password_hash(value: str, ok: bool) -> None:
    assert is_password_hash(value) is ok
