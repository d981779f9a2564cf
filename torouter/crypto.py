"""Secrets at rest (R18.2): AES-256-GCM under the deployment's `encryption_key`.

`encryption_key` holds one or more base64 32-byte keys separated by commas; the first
encrypts, all decrypt, so a key can be rotated (`rotate-encryption-key` re-encrypts with the
new first key). Every value names its key:

    v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>

The key id is the first 8 hex digits of the key's SHA-256 and is bound to the ciphertext as
associated data. The embedded default generates the key into `<data dir>/encryption.key`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from torouter.private_files import private_folder

if TYPE_CHECKING:
    from torouter.config import Settings

__all__ = [
    "KEY_FILE",
    "CryptoError",
    "Keyring",
    "decrypt",
    "encrypt",
    "existing_keyring",
    "generate_key",
    "is_encrypted",
    "keyring_for",
    "load_or_create_key_file",
    "migration_keyring",
]

log = logging.getLogger(__name__)

KEY_FILE = "encryption.key"
_VERSION = "v1"
_NONCE = 12


class CryptoError(Exception):
    """A bad key setting, or a value that cannot be decrypted (unknown key, tampered)."""


def generate_key() -> str:
    """A new key for `encryption_key`: 32 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _decode_key(text: str) -> bytes:
    text = text.strip().replace("-", "+").replace("_", "/")  # accept the URL-safe alphabet too
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise CryptoError("encryption_key: not base64") from None
    if len(raw) != 32:
        raise CryptoError("encryption_key: each key must be 32 bytes (base64)")
    return raw


@dataclass(frozen=True, slots=True)
class Keyring:
    """Keys by id; `primary` encrypts."""

    keys: dict[str, bytes] = field(repr=False)
    primary: str

    @classmethod
    def from_setting(cls, value: str) -> Keyring:
        parts = [p for p in value.split(",") if p.strip()]
        if not parts:
            raise CryptoError("encryption_key is empty")
        raw = [_decode_key(p) for p in parts]
        keys = {_key_id(k): k for k in raw}
        return cls(keys=keys, primary=_key_id(raw[0]))

    @classmethod
    def generate(cls) -> Keyring:
        return cls.from_setting(generate_key())

    def key_id_of(self, token: str) -> str:
        return _split(token)[0]


def _split(token: str) -> tuple[str, bytes]:
    try:
        version, kid, data = token.split(":", 2)
        if version != _VERSION:
            raise ValueError(version)
        blob = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (ValueError, binascii.Error):
        raise CryptoError("not an encrypted value") from None
    return kid, blob


def _aad(kid: str) -> bytes:
    return f"torouter:{_VERSION}:{kid}".encode()


def encrypt(plaintext: str, keyring: Keyring) -> str:
    kid = keyring.primary
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(keyring.keys[kid]).encrypt(nonce, plaintext.encode(), _aad(kid))
    data = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
    return f"{_VERSION}:{kid}:{data}"


def is_encrypted(value: str) -> bool:
    """True for a value `encrypt` made (`v1:<key id>:…`), False for anything else, e.g. a URL
    stored before its column was encrypted (a URL's scheme is never `v1`)."""
    return value.startswith(f"{_VERSION}:")


def decrypt(token: str, keyring: Keyring) -> str:
    kid, blob = _split(token)
    key = keyring.keys.get(kid)
    if key is None:
        raise CryptoError(f"encrypted with unknown key {kid}")
    try:
        plain = AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(kid))
    except InvalidTag:
        raise CryptoError("value does not decrypt (tampered or wrong key)") from None
    return plain.decode()


def load_or_create_key_file(data_dir: Path) -> str:
    """The embedded default's key: `<data dir>/encryption.key` (0600), made on first run.

    Returns the file's content, a valid `encryption_key` value.
    """
    path = Path(data_dir) / KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    private_folder(path.parent)
    key = generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def keyring_for(settings: Settings) -> Keyring:
    """The keyring of this deployment: `encryption_key`, else the SQLite default's key file.

    PostgreSQL deployments must set `encryption_key`: nodes generating their own files could
    not read each other's secrets.
    """
    if settings.encryption_key:
        return Keyring.from_setting(settings.encryption_key)
    if not settings.is_sqlite:
        raise CryptoError("encryption_key must be set when the database is PostgreSQL")
    created = not (Path(settings.data_dir) / KEY_FILE).exists()
    keyring = Keyring.from_setting(load_or_create_key_file(settings.data_dir))
    if created:
        log.warning(
            "generated the encryption key %s; back it up: channel credentials and other "
            "secrets cannot be read without it",
            Path(settings.data_dir) / KEY_FILE,
        )
    return keyring


def existing_keyring(encryption_key: str | None, key_dir: Path | None) -> Keyring | None:
    """The keyring a deployment already has, generating nothing: `encryption_key`, else the
    key file in `key_dir` (the SQLite default's data directory) when it exists, else None."""
    if encryption_key:
        return Keyring.from_setting(encryption_key)
    path = Path(key_dir) / KEY_FILE if key_dir is not None else None
    if path is not None and path.exists():
        return Keyring.from_setting(path.read_text().strip())
    return None


def migration_keyring(settings: Settings) -> Keyring | None:
    """The keyring migrations encrypt stored secrets with (0005, channel proxies).

    None where there is no key yet: such a database holds no secret to encrypt, and
    `migrate up` must not fail on a PostgreSQL deployment whose key is set elsewhere.
    """
    key_dir = Path(settings.data_dir) if settings.is_sqlite else None
    return existing_keyring(settings.encryption_key, key_dir)
