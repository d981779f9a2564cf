"""Channel egress proxies encrypted at rest: `channels.proxy` becomes `channels.proxy_enc`

Revision ID: 0005
Revises: 0004

A proxy URL may carry the proxy account's password, so it is stored like the channel's
credential (AES-256-GCM under the deployment key, R18.2). The key is not part of the schema:
`torouter.storage.migrate.upgrade` hands it over in the alembic configuration's attributes
(`keyring`), from the same settings the server reads. Without it (a caller that has no
settings) the URLs are copied unencrypted: the loaders accept both forms (a stored proxy is
either `v1:<key id>:…` or a URL, never ambiguous) and `rotate-encryption-key` or the next save
encrypts them. Downgrading decrypts, and refuses without the key rather than leave ciphertext
where the older code expects a URL.

Both steps use plain `ALTER TABLE … ADD/DROP COLUMN` (SQLite 3.35+): a batch rebuild of
`channels` would drop the table, and with foreign keys on SQLite's implicit delete would
cascade into `channel_groups`.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import context, op

from torouter.crypto import Keyring, decrypt, encrypt, is_encrypted

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# No module-level assignment but literals: `migrate.head_revision` reads these files with
# `ast.literal_eval` (alembic stays unloaded at start-up).


def _table() -> sa.TableClause:
    return sa.table(
        "channels",
        sa.column("id", sa.Integer),
        sa.column("proxy", sa.String(500)),
        sa.column("proxy_enc", sa.Text),
    )


def _keyring() -> Keyring | None:
    keyring = context.config.attributes.get("keyring")
    return keyring if isinstance(keyring, Keyring) else None


def upgrade() -> None:
    op.add_column("channels", sa.Column("proxy_enc", sa.Text(), nullable=True))
    conn = op.get_bind()
    keyring = _keyring()
    channels = _table()
    c = channels.c
    rows = conn.execute(sa.select(c.id, c.proxy).where(c.proxy.is_not(None), c.proxy != "")).all()
    for channel_id, url in rows:
        stored = url if keyring is None else encrypt(url, keyring)
        conn.execute(sa.update(channels).where(c.id == channel_id).values(proxy_enc=stored))
    if rows and keyring is None:
        logging.getLogger(__name__).warning(
            "%d channel proxy URLs were migrated without the encryption key and stay "
            "unencrypted until `torouter rotate-encryption-key` runs or the channel is saved",
            len(rows),
        )
    op.drop_column("channels", "proxy")


def downgrade() -> None:
    conn = op.get_bind()
    keyring = _keyring()
    channels = _table()
    c = channels.c
    rows = conn.execute(sa.select(c.id, c.proxy_enc).where(c.proxy_enc.is_not(None))).all()
    clear: list[tuple[int, str]] = []
    for channel_id, stored in rows:
        if not is_encrypted(stored):  # left unencrypted by a key-less upgrade
            clear.append((channel_id, stored))
        elif keyring is None:
            raise RuntimeError("downgrading below 0005 decrypts channel proxies: it needs the key")
        else:
            clear.append((channel_id, decrypt(stored, keyring)))
    op.add_column("channels", sa.Column("proxy", sa.String(length=500), nullable=True))
    for channel_id, url in clear:
        conn.execute(sa.update(channels).where(c.id == channel_id).values(proxy=url))
    op.drop_column("channels", "proxy_enc")
