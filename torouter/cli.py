"""The `torouter` command (SPEC R17.6)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from torouter.config import ConfigError, Settings, env_warnings, load_settings

if TYPE_CHECKING:
    from torouter.crypto import Keyring

__all__ = ["main"]

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="ToRouter: an LLM API gateway with billing and a console.",
    # Plain help: `[[groups]]` shown as written (rich markup ate it), no types beside flags.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        from torouter import __version__

        print(f"torouter {__version__}")
        raise typer.Exit()


@cli.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """ToRouter: an LLM API gateway with billing and a console.

    Commands that act on a deployment read its configuration from --config/-c FILE, else
    from $TOROUTER_CONFIG, else from TOROUTER_* variables and the defaults.
    """


ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="the deployment's TOML config file (default: $TOROUTER_CONFIG)",
    ),
]


def _settings(config: str | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, **overrides)
    except FileNotFoundError as exc:
        _die(f"config file not found: {exc.filename}", 2)
    except ConfigError as exc:  # `file: section.key: message`, one line each
        _die(str(exc), 2)
    except Exception as exc:  # a TOML syntax error
        _die(f"{config or os.environ.get('TOROUTER_CONFIG')}: {exc}", 2)
    raise AssertionError


def _migration_keyring(s: Settings) -> Keyring | None:
    """The key migrations encrypt secrets with (`crypto.migration_keyring`); a bad
    `encryption_key` ends the command with its reason, not a traceback."""
    from torouter import crypto

    try:
        return crypto.migration_keyring(s)
    except crypto.CryptoError as exc:
        _die(str(exc), 2)
        raise  # unreachable: _die exits


def _deployment(config: str | None) -> Settings:
    """The configured deployment's settings, for a command that opens its database.

    Without a config file (neither --config nor TOROUTER_CONFIG), the embedded default's data
    directory is `./data`: a command run from the wrong directory would silently create a new,
    empty database there. It is refused instead, naming where it looked.
    """
    s = _settings(config)
    given = config or os.environ.get("TOROUTER_CONFIG")
    if not given and s.is_sqlite and not (Path(s.data_dir) / "torouter.db").exists():
        where = (Path(s.data_dir) / "torouter.db").resolve()
        _die(
            f"no database at {where}: pass your deployment's config with --config/-c FILE "
            "or TOROUTER_CONFIG (or run this from the directory `torouter serve` runs in)",
            2,
        )
    return s


async def _notify(s: Settings, db: object) -> None:
    """Running nodes see the write at once, as after the same edit through the API."""
    from torouter.invalidation import publish_invalidation
    from torouter.storage.db import Database

    assert isinstance(db, Database)
    print(await publish_invalidation(s, db))


def _die(message: str, code: int = 1) -> None:
    for line in message.splitlines() or [""]:
        sys.stderr.write(f"ToRouter: {line}\n")
    raise typer.Exit(code)


@cli.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(metavar="HOST", help="listen address")] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="listen port (0: a free one)")
    ] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="worker processes")] = None,
) -> None:
    """Run the gateway, console and management API on one listener.

    Exits 0 after a clean stop; 1 when it cannot listen or a worker cannot start; 2 when the
    configuration, the database's schema or the single-process lock stops it.
    """
    from torouter.observability.logging import setup_logging
    from torouter.preflight import problems
    from torouter.server.choice import http_protocol
    from torouter.serving import ServeFailed, report, run_single, run_workers

    s = _settings(config)
    if host:
        s.server.host = host
    if port is not None:
        s.server.port = port
    if workers is not None:
        s.server.workers = workers
    found = problems(s)
    if found:
        _die("\n".join(found), 2)
    setup_logging(s.log.level)
    for warning in env_warnings():
        logging.getLogger("torouter.config").warning(warning)
    options: dict[str, object] = dict(
        loop="uvloop",
        # httptools, with R18.5's header limit and read timeouts: `server.protocol`'s choice.
        http=http_protocol(s.server),
        timeout_keep_alive=s.server.idle_timeout_s,
        lifespan="on",
        access_log=False,
        ws="none",  # no WebSocket surface; saves loading a protocol library
        server_header=False,
        proxy_headers=False,  # the client IP is ours to derive, from trusted_proxies only (R7.3)
        log_config=None,
        timeout_graceful_shutdown=int(s.shutdown.drain_s),
    )
    try:
        if s.server.workers > 1:
            run_workers(s, options)
        else:
            run_single(s, options)
    except ServeFailed as exc:
        raise typer.Exit(report(exc)) from None


@cli.command()
def migrate(
    action: Annotated[
        str, typer.Argument(metavar="[up|check]", help="up: migrate; check: exit 1 if outdated")
    ] = "up",
    config: ConfigOpt = None,
) -> None:
    """Apply (`up`) or verify (`check`) the database schema."""
    from torouter.storage import migrate as m
    from torouter.storage.db import Database

    s = _deployment(config) if action != "up" else _settings(config)

    async def run() -> int:
        db = Database(s.database_url)
        try:
            if action == "up":
                await m.upgrade(db, keyring=_migration_keyring(s))
                print(f"database at revision {m.head_revision()}")
                return 0
            if action == "check":
                if await m.is_current(db):
                    print("schema is current")
                    return 0
                print(
                    f"schema is outdated (current {await m.current_revision(db)}, head "
                    f"{m.head_revision()})"
                )
                return 1
            print("usage: torouter migrate up|check", file=sys.stderr)
            return 2
        finally:
            await db.dispose()

    raise typer.Exit(asyncio.run(run()))


@cli.command()
def apply(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="TOML file with [[groups]], [[channels]]…")
    ],
    config: ConfigOpt = None,
) -> None:
    """Make the deployment's database match FILE's declarations, idempotently.

    The database is the one of --config/-c (else TOROUTER_CONFIG); without either, FILE is
    read as the whole configuration. Running servers see the changes at once.
    """
    from torouter import crypto, provisioning
    from torouter.provisioning.declarations import read_declarations
    from torouter.storage import migrate as m
    from torouter.storage.db import Database

    if config or os.environ.get("TOROUTER_CONFIG"):
        s = _deployment(config)
        try:
            s = read_declarations(s, file)
        except FileNotFoundError:
            _die(f"declarations file not found: {file}", 2)
        except ValueError as exc:
            _die(str(exc), 2)
    else:
        s = _settings(str(file))

    async def run() -> None:
        db = Database(s.database_url)
        try:
            if db.is_sqlite:
                await m.upgrade(db, keyring=_migration_keyring(s))
            report = await provisioning.apply(db, s, crypto.keyring_for(s))
            print(report.summary())
            await _notify(s, db)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except provisioning.ProvisioningError as exc:
        _die(str(exc), 2)
    except crypto.CryptoError as exc:
        _die(str(exc), 2)


@cli.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="the admin's email")],
    config: ConfigOpt = None,
) -> None:
    """Create (or promote) an admin; the password comes from TOROUTER_ADMIN_PASSWORD or a prompt."""
    from torouter.accounts.passwords import hash_password
    from torouter.storage import migrate as m
    from torouter.storage import repos
    from torouter.storage.db import Database

    s = _deployment(config)
    password = os.environ.get("TOROUTER_ADMIN_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )

    async def run() -> None:
        db = Database(s.database_url)
        try:
            if db.is_sqlite:
                await m.upgrade(db, keyring=_migration_keyring(s))
            await repos.create_admin(db, email=email, password_hash=hash_password(password))
            await _notify(s, db)
        finally:
            await db.dispose()

    asyncio.run(run())
    print(f"admin {email} ready")


@cli.command("set-password")
def set_password(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="the account's email")],
    config: ConfigOpt = None,
) -> None:
    """Set an account's password (TOROUTER_NEW_PASSWORD or a prompt)."""
    from torouter.accounts.passwords import hash_password
    from torouter.storage import repos
    from torouter.storage.db import Database

    s = _deployment(config)
    password = os.environ.get("TOROUTER_NEW_PASSWORD") or typer.prompt(
        "New password", hide_input=True, confirmation_prompt=True
    )

    async def run() -> bool:
        db = Database(s.database_url)
        try:
            return await repos.set_password(db, email=email, password_hash=hash_password(password))
        finally:
            await db.dispose()

    if not asyncio.run(run()):
        _die(f"no account {email}")
    print("password updated")


@cli.command("create-admin-token")
def create_admin_token(
    name: Annotated[str, typer.Option(metavar="NAME", help="a label for the token")] = "cli",
    email: Annotated[str | None, typer.Option(metavar="EMAIL", help="the admin it acts as")] = None,
    config: ConfigOpt = None,
) -> None:
    """Create a management API token (`tra_…`), shown once."""
    from sqlalchemy import select

    from torouter.api.admin_tokens import create_admin_token as make
    from torouter.storage import migrate as m
    from torouter.storage import tables as t
    from torouter.storage.db import Database

    s = _deployment(config)

    async def run() -> str:
        db = Database(s.database_url)
        try:
            if db.is_sqlite:
                await m.upgrade(db, keyring=_migration_keyring(s))
            user_id = None
            if email:
                async with db.connect() as conn:
                    user_id = (
                        await conn.execute(select(t.users.c.id).where(t.users.c.email == email))
                    ).scalar_one_or_none()
                if user_id is None:
                    _die(f"no account {email}")
            return await make(db, name=name, user_id=user_id)
        finally:
            await db.dispose()

    print(asyncio.run(run()))


@cli.command("mock-provider")
def mock_provider(
    port: Annotated[int, typer.Option(metavar="PORT", help="listen port (0: a free one)")] = 9000,
    host: Annotated[str, typer.Option(metavar="HOST", help="listen address")] = "127.0.0.1",
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", metavar="FILE", help="the mock providers' TOML config"),
    ] = None,
) -> None:
    """Run the mock OpenAI, Anthropic and Gemini providers."""
    from torouter.mock.server import run

    run(host, port, config)


@cli.command("fake-stripe")
def fake_stripe(
    port: Annotated[int, typer.Option(metavar="PORT", help="listen port (0: a free one)")] = 12111,
    host: Annotated[str, typer.Option(metavar="HOST", help="listen address")] = "127.0.0.1",
    webhook_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="where to send webhooks, e.g. …/api/payments/stripe/webhook"
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(metavar="SECRET", help="signing secret (whsec_…); random when not given"),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(metavar="KEY", help="the secret key callers must send (any sk_… if not set)"),
    ] = None,
) -> None:
    """Run a fake Stripe (Checkout, refunds, signed webhooks) for tests and offline demos."""
    from torouter.mock.stripe.server import run

    run(host, port, webhook_url=webhook_url, webhook_secret=webhook_secret, api_key=api_key)


@cli.command()
def demo(config: ConfigOpt = None) -> None:
    """Show the demo credentials of the embedded default (from the data directory)."""
    s = _deployment(config)
    path = Path(s.data_dir) / "demo.txt"
    if not path.exists():
        _die("no demo data yet: run `torouter serve` once on an empty embedded database")
    sys.stdout.write(path.read_text())


@cli.command("gen-secret")
def gen_secret() -> None:
    """Print a new random secret (for secret_key or encryption_key)."""
    from torouter.crypto import generate_key

    print(generate_key())


@cli.command("rotate-encryption-key")
def rotate_encryption_key(config: ConfigOpt = None) -> None:
    """Re-encrypt every stored secret under the first key of `encryption_key` .

    Put the new key first and keep the old ones after it (comma-separated) until this ran.
    """
    from torouter import crypto
    from torouter.billing.payments.config import PREFIX, SECRETS
    from torouter.storage.db import Database
    from torouter.storage.rekey import reencrypt_secrets

    s = _deployment(config)
    keyring = crypto.keyring_for(s)

    async def run() -> int:
        db = Database(s.database_url)
        try:
            async with db.begin() as conn:
                # Channel credentials and proxies, TOTP seeds, and the Stripe keys admins
                # saved in the settings table (R14.8).
                return await reencrypt_secrets(conn, keyring, [PREFIX + k for k in SECRETS])
        finally:
            await db.dispose()

    try:
        print(f"re-encrypted {asyncio.run(run())} secrets under the primary key")
    except crypto.CryptoError as exc:
        _die(str(exc), 2)


@cli.command("check-config")
def check_config(config: ConfigOpt = None) -> None:
    """Run every check `serve` makes before listening, without touching the database.

    Prints each problem as `file: section.key: message` and exits 2, or says it is valid.
    """
    from torouter.accounts.service import mail_warning
    from torouter.preflight import problems

    s = _settings(config)
    found = problems(s)
    if found:
        _die("\n".join(found), 2)
    for warning in [*env_warnings(), mail_warning(s)]:
        if warning:
            sys.stderr.write(f"ToRouter: warning: {warning}\n")
    print("configuration is valid")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
