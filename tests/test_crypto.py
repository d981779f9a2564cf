from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from torouter.config import Settings
from torouter.crypto import (
    KEY_FILE,
    CryptoError,
    Keyring,
    decrypt,
    encrypt,
    existing_keyring,
    generate_key,
    is_encrypted,
    keyring_for,
    load_or_create_key_file,
    migration_keyring,
)

K1 = base64.b64encode(bytes(range(32))).decode()
K2 = base64.b64encode(bytes(range(1, 33))).decode()


@pytest.mark.parametrize("plaintext", ["sk-upstream-secret", "", "ключ 🔑", "x" * 10_000])
def test_round_trip(plaintext: str) -> None:
    ring = Keyring.from_setting(K1)
    token = encrypt(plaintext, ring)
    assert plaintext not in token or plaintext == ""
    assert token.startswith(f"v1:{ring.primary}:")
    assert decrypt(token, ring) == plaintext


def test_same_plaintext_encrypts_differently() -> None:
    ring = Keyring.from_setting(K1)
    assert encrypt("a", ring) != encrypt("a", ring)


def test_rotation_old_values_still_decrypt() -> None:
    old = Keyring.from_setting(K1)
    token = encrypt("secret", old)
    rotated = Keyring.from_setting(f"{K2}, {K1}")
    assert rotated.primary != old.primary
    assert decrypt(token, rotated) == "secret"
    new_token = encrypt("secret", rotated)
    assert rotated.key_id_of(new_token) == rotated.primary
    with pytest.raises(CryptoError, match="unknown key"):
        decrypt(new_token, old)


def test_url_safe_alphabet_accepted() -> None:
    raw = bytes([0xFB, 0xFF] * 16)
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert Keyring.from_setting(std).keys == Keyring.from_setting(url).keys


def tamper(token: str) -> str:
    head, data = token.rsplit(":", 1)
    return f"{head}:{data[:-2]}{'A' if data[-2] != 'A' else 'B'}{data[-1]}"


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda ring: tamper(encrypt("secret", ring)), "tampered"),
        (lambda ring: "v2:" + encrypt("secret", ring)[3:], "not an encrypted value"),
        (lambda ring: "plaintext", "not an encrypted value"),
        (lambda ring: encrypt("s", ring).replace(ring.primary, "deadbeef"), "unknown key"),
    ],
)
def test_bad_tokens(make_token: object, message: str) -> None:
    ring = Keyring.from_setting(K1)
    with pytest.raises(CryptoError, match=message):
        decrypt(make_token(ring), ring)  # type: ignore[operator]


def test_key_id_is_bound_to_the_ciphertext() -> None:
    """Relabelling a value with another key's id fails even if that key were the same."""
    ring = Keyring.from_setting(K1)
    token = encrypt("s", ring)
    forged = Keyring(keys={"00000000": ring.keys[ring.primary]}, primary="00000000")
    with pytest.raises(CryptoError):
        decrypt(token.replace(ring.primary, "00000000"), forged)


@pytest.mark.parametrize(
    "setting",
    ["", " , ", "not base64!", base64.b64encode(b"short").decode(), K1 + ",xyz"],
)
def test_bad_settings(setting: str) -> None:
    with pytest.raises(CryptoError):
        Keyring.from_setting(setting)


def test_generate_key_is_a_valid_setting() -> None:
    assert len(Keyring.from_setting(generate_key()).keys) == 1


def test_key_file_created_once_0600(tmp_path: Path) -> None:
    first = load_or_create_key_file(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key_file(tmp_path) == first
    Keyring.from_setting(first)


def test_keyring_for_settings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    explicit = keyring_for(Settings(data_dir=tmp_path, encryption_key=K1))
    assert explicit == Keyring.from_setting(K1)
    assert not (tmp_path / KEY_FILE).exists()
    caplog.set_level("WARNING", logger="torouter.crypto")
    embedded = keyring_for(Settings(data_dir=tmp_path))
    assert (tmp_path / KEY_FILE).exists() and "generated the encryption key" in caplog.text
    assert keyring_for(Settings(data_dir=tmp_path)) == embedded
    with pytest.raises(CryptoError, match="PostgreSQL"):
        keyring_for(Settings(data_dir=tmp_path, database={"url": "postgresql+asyncpg://x@h/db"}))


def test_is_encrypted_tells_ciphertext_from_a_url() -> None:
    """The two forms a `channels.proxy_enc` value may take (migration 0005 without the key)."""
    assert is_encrypted(encrypt("http://u:p@h:1", Keyring.from_setting(K1)))
    for url in ("http://u:p@h:1", "socks5h://h:1080", "https://h", ""):
        assert not is_encrypted(url)


def test_the_migrations_keyring_generates_nothing(tmp_path: Path) -> None:
    """Migrations use the key a deployment has; none yet (a fresh folder, a PostgreSQL
    deployment without `encryption_key` set for this command) is None, not a new key file."""
    assert migration_keyring(Settings(data_dir=tmp_path)) is None
    assert not (tmp_path / KEY_FILE).exists()
    pg = Settings(data_dir=tmp_path, database={"url": "postgresql+asyncpg://x@h/db"})
    assert migration_keyring(pg) is None
    embedded = keyring_for(Settings(data_dir=tmp_path))  # the key file now exists
    assert migration_keyring(Settings(data_dir=tmp_path)) == embedded
    assert migration_keyring(pg) is None  # PostgreSQL never reads a node's key file
    explicit = Settings(data_dir=tmp_path, encryption_key=K1)
    assert migration_keyring(explicit) == Keyring.from_setting(K1)
    assert existing_keyring(None, None) is None
    with pytest.raises(CryptoError):
        existing_keyring("not-a-key", None)
