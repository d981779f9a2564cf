"""What the console is built from: the management API's own dependencies (the same services,
repositories and snapshot), plus what only pages need. Passed in once; no globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from jinja2 import Environment

from torouter.accounts.service import Accounts
from torouter.api.changes import deployment_zone
from torouter.api.deps import ApiDeps
from torouter.config import Settings
from torouter.console.assets import Assets
from torouter.operations.context import OpsContext
from torouter.site_config import SiteConfig

__all__ = ["ConsoleDeps"]


@dataclass(slots=True)
class ConsoleDeps:
    api: ApiDeps
    accounts: Accounts
    assets: Assets
    templates: Environment
    base_url: str
    ops: OpsContext
    site_config: SiteConfig
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @property
    def settings(self) -> Settings:
        return self.api.settings

    @classmethod
    def build(
        cls,
        api: ApiDeps,
        *,
        assets: Assets,
        templates: Environment,
        base_url: str,
        ops: OpsContext,
        site_config: SiteConfig,
    ) -> ConsoleDeps:
        assert api.accounts is not None, "the console needs the account services"
        return cls(
            api=api,
            accounts=api.accounts,
            assets=assets,
            templates=templates,
            base_url=base_url.rstrip("/"),
            ops=ops,
            site_config=site_config,
            tz=deployment_zone(api),
        )
