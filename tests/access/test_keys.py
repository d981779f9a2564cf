from __future__ import annotations

import hashlib

import pytest

from torouter.access.keys import (
    ADMIN_TOKEN_RE,
    KEY_RE,
    generate_admin_token,
    generate_key,
    hash_key,
    hash_token,
    is_key_shaped,
    mask_key,
    new_key,
    same_hash,
)


def test_generated_keys_match_the_shape_and_differ() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert KEY_RE.match(key) and len(key) == 51


def test_generated_admin_tokens() -> None:
    tokens = {generate_admin_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(ADMIN_TOKEN_RE.match(t) and len(t) == 44 for t in tokens)


GOOD = "sk-" + "a" * 44 + "-_Z9"


@pytest.mark.parametrize(
    ("value", "shaped"),
    [
        (GOOD, True),
        ("sk-" + "A" * 48, True),
        ("sk-" + "a" * 47, False),  # too short
        ("sk-" + "a" * 49, False),  # too long
        ("sk-" + "a" * 47 + "=", False),  # not URL-safe base64
        ("sk-" + "a" * 47 + "+", False),
        ("SK-" + "a" * 48, False),
        ("sk_" + "a" * 48, False),
        (GOOD + "\n", False),  # `$` would have let this through
        (" " + GOOD, False),
        ("", False),
    ],
)
def test_key_shape(value: str, shaped: bool) -> None:
    assert is_key_shaped(value) is shaped


@pytest.mark.parametrize(
    ("key", "mask"),
    [
        ("sk-abcdEFGHijklmnopqrstuvwxyz0123456789ABCDEFGHwxyz", "sk-abcd…wxyz"),
        ("tra_" + "1234" + "x" * 32 + "9876", "tra_1234…9876"),
        ("sk-short", "sk-…"),
        ("plainvaluewithoutprefix", "plai…efix"),
    ],
)
def test_mask(key: str, mask: str) -> None:
    assert mask_key(key) == mask
    assert len(mask) <= 20  # the mask columns


@pytest.mark.parametrize("fn", [hash_key, hash_token])
def test_hash_is_sha256_hex(fn: object) -> None:
    value = generate_key()
    digest = fn(value)  # type: ignore[operator]
    assert digest == hashlib.sha256(value.encode()).hexdigest()
    assert len(digest) == 64


def test_same_hash() -> None:
    a = hash_key(GOOD)
    assert same_hash(a, hash_key(GOOD))
    assert not same_hash(a, hash_key(GOOD[:-1] + "x"))


def test_a_new_key_comes_with_what_storage_keeps_of_it() -> None:
    """Repositories take already-hashed secrets (issue 13): the hash and mask come from here."""
    first, second = new_key(), new_key()
    assert KEY_RE.match(first.secret) and first.secret != second.secret
    assert first.key_hash == hashlib.sha256(first.secret.encode()).hexdigest()
    assert first.mask == mask_key(first.secret) and first.secret not in repr(first.mask)
