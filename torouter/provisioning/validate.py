"""Validate the declared tables (R17.10) into a `Plan`, or fail naming file, entry and field.

Pure: the database is represented by `Existing` (names already there), so a reference may
point at an object declared in the file or one that exists already.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from torouter.access.keys import hash_key
from torouter.config import Settings
from torouter.provisioning.entries import (
    KIND_IDENTITY,
    ChannelEntry,
    GroupEntry,
    KeyEntry,
    ModelEntry,
    PlanEntry,
    SubscriptionEntry,
    UserEntry,
)

__all__ = ["Declared", "Existing", "Plan", "ProvisioningError", "key_hash_of", "validate"]

E = TypeVar("E", bound=BaseModel)


class ProvisioningError(Exception):
    """One line per problem: `<file>: [[<table>]] #<n> (<id>): field "<field>": <message>`."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Declared(Generic[E]):
    """A valid entry and where it came from (`label` prefixes later messages about it)."""

    label: str  # '<file>: [[keys]] #2 (name "ci")'
    ref: str  # '[[keys]] #2'
    entry: E

    def problem(self, field_name: str, message: str) -> str:
        return f'{self.label}: field "{field_name}": {message}'


@dataclass(frozen=True, slots=True)
class Existing:
    """What the database already holds, for references to objects not in the file."""

    groups: Mapping[str, str] = field(default_factory=dict)  # name → billing_type
    models: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    plans: Mapping[str, str] = field(default_factory=dict)  # name → group name


@dataclass(frozen=True, slots=True)
class Plan:
    """The validated declaration, in file order."""

    source: str
    groups: tuple[Declared[GroupEntry], ...] = ()
    models: tuple[Declared[ModelEntry], ...] = ()
    channels: tuple[Declared[ChannelEntry], ...] = ()
    users: tuple[Declared[UserEntry], ...] = ()
    keys: tuple[Declared[KeyEntry], ...] = ()
    plans: tuple[Declared[PlanEntry], ...] = ()
    subscriptions: tuple[Declared[SubscriptionEntry], ...] = ()


def key_hash_of(key: str) -> str:
    """`sha256:<hex>` or a plaintext key → the stored SHA-256 hex."""
    if key.startswith("sha256:"):
        return key[len("sha256:") :].lower()
    return hash_key(key)


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "datetime_type": "must be an RFC 3339 time",
    "datetime_parsing": "must be an RFC 3339 time",
    "datetime_from_date_parsing": "must be an RFC 3339 time",
    "timezone_aware": "must include a UTC offset (RFC 3339)",
    "string_too_short": "must not be empty",
}


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _message(err: Mapping[str, Any]) -> tuple[str, str]:
    """(field, message) of one pydantic error."""
    kind, ctx, path = err["type"], err.get("ctx") or {}, _field_path(err["loc"])
    if kind == "torouter_field":
        return str(ctx["field"]), str(ctx["message"])
    if kind == "literal_error":
        options = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx["expected"]))
        return path, "must be one of " + ", ".join(options)
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be greater than", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "string_too_long": ("must be at most this many characters:", "max_length"),
    }
    if kind in bounds:
        text, key = bounds[kind]
        bound = ctx[key]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return path, f"{text} {bound}"
    return path, _MESSAGES.get(kind, str(err["msg"]))


def _label(source: str, ref: str, kind: str, raw: Any) -> str:
    idents = KIND_IDENTITY[kind][1]
    shown = [
        f'{name} "{raw[name]}"'
        for name in idents
        if isinstance(raw, dict) and isinstance(raw.get(name), str)
    ]
    suffix = f" ({', '.join(shown)})" if shown else ""
    return f"{source}: {ref}{suffix}"


def _parse(
    source: str, kind: str, raws: list[Any], environ: Mapping[str, str], problems: list[str]
) -> list[Declared[Any]]:
    model = KIND_IDENTITY[kind][0]
    out: list[Declared[Any]] = []
    for number, raw in enumerate(raws, 1):
        ref = f"[[{kind}]] #{number}"
        label = _label(source, ref, kind, raw)
        try:
            entry = model.model_validate(raw, context={"environ": environ})
        except ValidationError as exc:
            for err in exc.errors():
                name, message = _message(err)
                where = f'field "{name}": ' if name else ""
                problems.append(f"{label}: {where}{message}")
            continue
        out.append(Declared(label, ref, entry))
    return out


def _unique(
    items: Iterable[Declared[Any]],
    key: Callable[[Any], Hashable],
    field_name: str,
    problems: list[str],
) -> None:
    seen: dict[Hashable, str] = {}
    for item in items:
        k = key(item.entry)
        if k in seen:
            problems.append(item.problem(field_name, f"duplicate of {seen[k]}"))
        else:
            seen[k] = item.ref


def _ref(
    item: Declared[Any], field_name: str, kind: str, name: str, known: set[str] | None
) -> Iterator[str]:
    if known is not None and name not in known:
        yield item.problem(field_name, f'unknown {kind} "{name}"')


def _refs(
    item: Declared[Any], field_name: str, kind: str, names: list[str], known: set[str] | None
) -> Iterator[str]:
    listed: set[str] = set()
    for i, name in enumerate(names):
        yield from _ref(item, f"{field_name}[{i}]", kind, name, known)
        if name in listed:
            yield item.problem(f"{field_name}[{i}]", f'"{name}" is listed twice')
        listed.add(name)


def validate(
    settings: Settings,
    *,
    existing: Existing | None = None,
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """Parse and check every declared entry; raise `ProvisioningError` listing all problems.

    `existing=None` skips the reference checks against the database (a reference to an
    undeclared object is then assumed to exist); `apply` passes what the database holds.
    """
    source = str(settings.config_file) if settings.config_file else "settings"
    env = os.environ if environ is None else environ
    problems: list[str] = []
    parsed = {
        kind: _parse(source, kind, list(getattr(settings, kind)), env, problems)
        for kind in KIND_IDENTITY
    }
    plan = Plan(source, **{kind: tuple(items) for kind, items in parsed.items()})
    _check_unique(plan, existing, problems)
    _check_references(plan, existing, problems)
    if problems:
        raise ProvisioningError(problems)
    return plan


def _plan_groups(plan: Plan, existing: Existing | None) -> dict[str, str]:
    groups = dict(existing.plans) if existing else {}
    groups.update({p.entry.name: p.entry.group for p in plan.plans})
    return groups


def _check_unique(plan: Plan, existing: Existing | None, problems: list[str]) -> None:
    _unique(plan.groups, lambda e: e.name, "name", problems)
    _unique(plan.models, lambda e: e.id, "id", problems)
    _unique(plan.channels, lambda e: e.name, "name", problems)
    _unique(plan.users, lambda e: e.email, "email", problems)
    _unique(plan.plans, lambda e: e.name, "name", problems)
    _unique(plan.keys, lambda e: (e.user, e.name), "name", problems)
    _unique(plan.keys, lambda e: key_hash_of(e.key), "key", problems)
    plan_groups = _plan_groups(plan, existing)
    _unique(
        plan.subscriptions,
        lambda e: (e.user, plan_groups.get(e.plan, e.plan)),
        "plan",
        problems,
    )


def _check_references(plan: Plan, existing: Existing | None, problems: list[str]) -> None:
    def known(declared: Iterable[str], there: Iterable[str]) -> set[str] | None:
        return None if existing is None else {*declared, *there}

    ex = existing or Existing()
    models = known((m.entry.id for m in plan.models), ex.models)
    groups = known((g.entry.name for g in plan.groups), ex.groups)
    users = known((u.entry.email for u in plan.users), ex.users)
    plans = known((p.entry.name for p in plan.plans), ex.plans)
    billing = {**ex.groups, **{g.entry.name: g.entry.billing_type for g in plan.groups}}
    for g in plan.groups:
        problems.extend(_refs(g, "models", "model", g.entry.models, models))
    for c in plan.channels:
        problems.extend(_refs(c, "models", "model", c.entry.models, models))
        problems.extend(_refs(c, "groups", "group", c.entry.groups, groups))
    for k in plan.keys:
        problems.extend(_ref(k, "user", "user", k.entry.user, users))
        problems.extend(_ref(k, "group", "group", k.entry.group, groups))
    for p in plan.plans:
        problems.extend(_ref(p, "group", "group", p.entry.group, groups))
        if billing.get(p.entry.group, "subscription") != "subscription":
            problems.append(
                p.problem("group", f'group "{p.entry.group}" is not a subscription group')
            )
    for s in plan.subscriptions:
        problems.extend(_ref(s, "user", "user", s.entry.user, users))
        problems.extend(_ref(s, "plan", "plan", s.entry.plan, plans))
