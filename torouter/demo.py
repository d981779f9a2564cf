"""First-run demo data (R17.9): the embedded default on an empty database, on the mocks.

Creates an admin, a verified demo user with $10, the public balance group `default`, one
channel per mock provider, four demo models and one key. The passwords and the key are
written once to `<data dir>/demo.txt` (0600) and returned so that the caller prints the
stderr banner; they never reach the JSON log (R18.3).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.access.keys import new_key
from torouter.accounts.passwords import hash_password
from torouter.config import Settings
from torouter.crypto import Keyring
from torouter.private_files import private_folder
from torouter.storage.db import Database
from torouter.storage.repos._common import now
from torouter.storage.repos.apikeys import insert_key
from torouter.storage.repos.channels import create_channel
from torouter.storage.repos.groups import create_group, set_group_models
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.repos.models import create_model
from torouter.storage.repos.users import count_users, create_user
from torouter.storage.tables import channels

__all__ = ["ADMIN_EMAIL", "DEMO_FILE", "USER_EMAIL", "DemoInfo", "banner", "ensure_demo"]

ADMIN_EMAIL = "admin@torouter.local"
USER_EMAIL = "demo@torouter.local"
DEMO_FILE = "demo.txt"
DEMO_CREDENTIAL = "mock-demo-key"
DEMO_BALANCE_NUSD = 10 * 10**9
_PRICES = {"input": Decimal(1), "output": Decimal(2)}
_CHAT = ("chat", "responses", "messages", "generate")

# id, vendor, modality, endpoints, thinking, context length, max output
_MODELS = (
    ("demo-gpt", "openai", "text", _CHAT, False, 128_000, 16_384),
    ("demo-claude", "anthropic", "text", _CHAT, True, 200_000, 32_000),
    ("demo-gemini", "google", "text", _CHAT, False, 1_048_576, 65_536),
    ("demo-embed", "openai", "embedding", ("embeddings",), False, 8_192, None),
)
# name, platform, mock path, models served
_CHANNELS = (
    ("demo-openai", "openai", "/mock/openai/v1", ("demo-gpt", "demo-embed")),
    ("demo-anthropic", "anthropic", "/mock/anthropic", ("demo-claude",)),
    ("demo-gemini", "gemini", "/mock/gemini", ("demo-gemini",)),
)


@dataclass(frozen=True, slots=True)
class DemoInfo:
    admin_email: str
    admin_password: str
    user_email: str
    user_password: str
    key: str

    def __repr__(self) -> str:  # keep secrets out of accidental logs and tracebacks
        return f"DemoInfo(admin_email={self.admin_email!r}, user_email={self.user_email!r})"


async def ensure_demo(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    base_url: str,
    *,
    environ: Mapping[str, str] | None = None,
) -> DemoInfo | None:
    """Create the demo data if this is the embedded default's first run; else None.

    Skipped when `demo.enabled` is off, outside the embedded default, when the config file
    declares objects (R17.10) or when the database has any user.
    """
    if not settings.demo.enabled or not settings.embedded or settings.has_provisioning:
        return None
    env = os.environ if environ is None else environ
    admin_password = env.get("TOROUTER_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    user_password = secrets.token_urlsafe(12)
    async with db.begin() as conn:
        if await count_users(conn):
            return None
        key = await _create(
            conn,
            admin_password=admin_password,
            user_password=user_password,
            keyring=keyring,
            base_url=base_url.rstrip("/"),
        )
    info = DemoInfo(ADMIN_EMAIL, admin_password, USER_EMAIL, user_password, key)
    write_demo_file(Path(settings.data_dir), info, base_url)
    return info


async def _create(
    conn: AsyncConnection,
    *,
    admin_password: str,
    user_password: str,
    keyring: Keyring,
    base_url: str,
) -> str:
    """All demo rows; returns the demo key."""
    verified = now()
    await create_user(
        conn,
        email=ADMIN_EMAIL,
        password_hash=hash_password(admin_password),
        role="admin",
        state="active",
        verified_at=verified,
    )
    user_id = await create_user(
        conn,
        email=USER_EMAIL,
        password_hash=hash_password(user_password),
        state="active",
        verified_at=verified,
        username="demo",
    )
    await add_ledger_entry(
        conn,
        user_id=user_id,
        amount_nusd=DEMO_BALANCE_NUSD,
        reason="admin_credit",
        reference="demo:welcome",
        actor="demo",
        note="demo balance",
    )
    group_id = await create_group(
        conn, name="default", description="Demo models on the built-in mock providers"
    )
    for order, (model_id, vendor, modality, endpoints, thinking, ctx, out) in enumerate(_MODELS):
        await create_model(
            conn,
            model_id=model_id,
            vendor=vendor,
            modality=modality,
            endpoints=endpoints,
            supports_thinking=thinking,
            context_length=ctx,
            max_output_tokens=out,
            prices=_PRICES,
            sort_order=order,
        )
    await set_group_models(conn, group_id=group_id, model_ids=[m[0] for m in _MODELS])
    for name, platform, path, served in _CHANNELS:
        await create_channel(
            conn,
            name=name,
            platform=platform,
            keyring=keyring,
            credential=DEMO_CREDENTIAL,
            base_url=base_url + path,
            models=served,
            group_ids=[group_id],
            test_model=served[0],
        )
    key = new_key()
    await insert_key(
        conn,
        user_id=user_id,
        group_id=group_id,
        name="demo",
        key_hash=key.key_hash,
        mask=key.mask,
    )
    return key.secret


_CONSOLE_LINE = re.compile(r"^  console:  (\S+)/login", re.M)


async def follow_base_url(db: Database, settings: Settings, base_url: str) -> bool:
    """After a restart on another address, point demo.txt and the demo channels at it.

    The demo channels call this process's own mock providers through its URL, so a new port
    would otherwise break every demo model, and demo.txt would show a dead address. Only the
    rows the demo created (its channel names, on the old address) are changed. Returns whether
    anything moved.
    """
    path = Path(settings.data_dir) / DEMO_FILE
    try:
        text = path.read_text()
    except OSError:
        return False
    found = _CONSOLE_LINE.search(text)
    new = base_url.rstrip("/")
    if found is None or found.group(1) == new:
        return False
    old = found.group(1)
    async with db.begin() as conn:
        for name, _platform, suffix, _served in _CHANNELS:
            await conn.execute(
                update(channels)
                .where(channels.c.name == name, channels.c.base_url == old + suffix)
                .values(base_url=new + suffix)
            )
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text.replace(old + "/", new + "/"))
    return True


def banner(info: DemoInfo, base_url: str) -> str:
    """The first-run text for stderr and demo.txt: logins, the key and a ready curl."""
    base = base_url.rstrip("/")
    return (
        "ToRouter demo data (first run; also in demo.txt)\n"
        f"  console:  {base}/login  (sign in as the demo user, or as the admin)\n"
        f"  user:     {info.user_email}  password: {info.user_password}\n"
        f"  admin:    {info.admin_email}  password: {info.admin_password}\n"
        f"  API key:  {info.key}\n"
        "  try:\n"
        f"    curl {base}/v1/chat/completions \\\n"
        f'      -H "Authorization: Bearer {info.key}" -H "Content-Type: application/json" \\\n'
        """      -d '{"model": "demo-gpt", "messages": [{"role": "user", "content": "Hi"}]}'\n"""
        "  top up:   sign in as the user, open "
        f"{base}/purchase and pay on the built-in fake\n"
        "            Stripe page (Pay, Fail or Cancel): no card, nothing leaves this machine\n"
    )


def write_demo_file(data_dir: Path, info: DemoInfo, base_url: str) -> Path:
    path = data_dir / DEMO_FILE
    private_folder(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)  # also when an old file was there with other bits
        fh.write(banner(info, base_url))
    return path
