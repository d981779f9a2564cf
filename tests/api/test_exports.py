"""The public names of `torouter.api`, pinned."""

from __future__ import annotations

import dataclasses

import torouter.api
from torouter.api import ApiDeps


def test_public_names() -> None:
    assert sorted(torouter.api.__all__) == [
        "ApiDeps",
        "Principal",
        "SessionResolver",
        "build_management_api",
    ]


def test_api_deps_fields() -> None:
    names = [f.name for f in dataclasses.fields(ApiDeps)]
    assert names == [
        "settings",
        "db",
        "snapshot",
        "ledger",
        "session_resolver",
        "accounts",
        "health",
        "http",
        "gateway",
        "payments",
    ]
