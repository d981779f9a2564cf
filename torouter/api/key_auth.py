"""An API key as the caller of the management API (`GET /api/me/key`, R11.6).

The key is judged exactly as the gateway judges it (admission steps 1–6 of SPEC §7, the R8.1
codes): `Authorization: Bearer sk-…`, refused without a lookup when it is not key-shaped
(R2.5), then found by its SHA-256 in the in-memory snapshot — never compared in SQL — and
checked for status, owner, expiry and the key's IP rules. Failed lookups count toward the
client IP's limit of R18.3, shared with the gateway through the state backend.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPBearer
from starlette.requests import Request

from torouter.access.admission import KeyAdmission, check_key
from torouter.access.keys import FAILED_LOOKUPS_PER_MINUTE, hash_key, is_key_shaped
from torouter.api.auth import bearer_credential
from torouter.api.changes import now
from torouter.api.client import client_ip
from torouter.api.deps import ApiDeps, Deps
from torouter.errors import GatewayError, error

__all__ = ["ApiKeyCaller", "api_key_caller"]

# Only declares the scheme in the OpenAPI document; the header is parsed below.
_bearer_doc = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer sk-<48 characters>`.",
)


async def _failed_lookup(deps: ApiDeps, ip: str | None) -> GatewayError:
    """E2, or E14 once this IP has failed `FAILED_LOOKUPS_PER_MINUTE` lookups this minute."""
    if await deps.ledger.note_failed_lookup(ip or "") < FAILED_LOOKUPS_PER_MINUTE:
        return error("E2")
    at = deps.ledger.clock()
    return error(
        "E14",
        retry_after=max(math.floor(at / 60 + 1) * 60 - at, 1.0),
        headers=[("x-torouter-limit", "ip")],
    )


async def api_key_caller(
    request: Request,
    deps: Deps,
    _doc: Annotated[object, Depends(_bearer_doc)] = None,
) -> KeyAdmission:
    """The key and its owner, or the gateway's error for the same key (E1–E7, E14)."""
    key = bearer_credential(request)
    if not key:
        raise error("E1")
    ip = client_ip(request)
    if not is_key_shaped(key):
        raise await _failed_lookup(deps, ip)
    try:
        at = now(deps).timestamp()
        return check_key(deps.snapshot.current, hash_key(key), now=at, client_ip=ip)
    except GatewayError as exc:
        if exc.code == "INVALID_API_KEY":
            raise await _failed_lookup(deps, ip) from None
        raise


ApiKeyCaller = Annotated[KeyAdmission, Depends(api_key_caller)]
