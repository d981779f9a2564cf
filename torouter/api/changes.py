"""After an edit: the gateway applies it on its very next request (R7.12), and "now".

Every route that changes keys, users, groups, models, prices, plans or subscriptions awaits
`publish(deps)` after its transaction commits and before it answers.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from torouter.api.deps import ApiDeps

__all__ = ["deployment_zone", "now", "publish"]


async def publish(deps: ApiDeps) -> None:
    """Refresh this node's snapshot now and tell the other nodes (Redis pub/sub when scaled
    out), so every node serves the edit from its next request on."""
    await deps.snapshot.invalidate()


def now(deps: ApiDeps) -> dt.datetime:
    """The accounts clock when there is one (tests move it), else the system's, in UTC."""
    if deps.accounts is not None:
        return deps.accounts.clock.now()
    return dt.datetime.now(dt.UTC)


def deployment_zone(deps: ApiDeps) -> zoneinfo.ZoneInfo:
    """The `timezone` setting (calendar days, weeks and months), UTC if it is unknown."""
    try:
        return zoneinfo.ZoneInfo(deps.settings.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")
