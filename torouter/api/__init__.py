"""The management JSON API (SPEC §16): `build_management_api(ApiDeps(...))` → a FastAPI app."""

from torouter.api.app import build_management_api
from torouter.api.deps import ApiDeps
from torouter.api.principal import Principal, SessionResolver

__all__ = ["ApiDeps", "Principal", "SessionResolver", "build_management_api"]
