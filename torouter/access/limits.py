"""Steps 10–11 of admission as data (SPEC R7.5, R7.7, R7.10, R7.11). Pure.

`admit_request` turns an admitted request into the windows and holds the state backend checks
and reserves in one atomic step; `refusal` turns a backend verdict into the error of §8 in the
order of R7.10; `rate_headers` renders the R7.5 headers of a success. Counter names carry the
user's hash tag `{u:<id>}` so one Lua script can reserve across all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from torouter.access.calendar import Period, periods
from torouter.errors import GatewayError, error
from torouter.records import KeyRec, SubscriptionRec
from torouter.state.base import AdmitRequest, Hold, Verdict, Window

__all__ = [
    "Ticket",
    "admit_request",
    "balance_counter",
    "duration",
    "key_counter",
    "key_holds",
    "key_windows",
    "rate_headers",
    "refusal",
    "subscription_holds",
]

# name, api_keys column, bucket seconds (60 buckets each)
REQUEST_WINDOWS = (
    ("key_5h", "requests_5h", 300),
    ("key_1d", "requests_1d", 1440),
    ("key_7d", "requests_7d", 10080),
    ("key_rpm", "rpm", 1),
)
_PERIOD_LETTER = {"day": "d", "week": "w", "month": "m"}


def tag(user_id: int) -> str:
    return f"{{u:{user_id}}}"


def balance_counter(user_id: int) -> str:
    return f"{tag(user_id)}:bal"


def key_counter(user_id: int, key_id: int) -> str:
    return f"{tag(user_id)}:key:{key_id}"


def key_period_counter(user_id: int, key_id: int, p: Period) -> str:
    return f"{tag(user_id)}:k{_PERIOD_LETTER[p.kind]}:{key_id}:{p.tag}"


def sub_period_counter(user_id: int, sub_id: int, p: Period) -> str:
    return f"{tag(user_id)}:s{_PERIOD_LETTER[p.kind]}:{sub_id}:{p.tag}"


_BUDGET_LABELS = {kind: f"key_budget_{kind}" for kind in _PERIOD_LETTER}


@dataclass(frozen=True, slots=True)
class _KeyParts:
    """What an admission asks of a key for the current periods, built once per key and day:
    per request they were ten string formats and a dozen frozen records (~5 µs), and a key
    asks for the same all day. Holding the key and the periods keeps their ids from reuse."""

    key: KeyRec
    ps: tuple[Period, ...]
    holds: tuple[Hold, ...]  # the key cap, then the day, week and month spend
    windows: tuple[Window, ...]
    tokens: Window | None
    concurrency: tuple[str, int] | None
    marker: str  # the balance counter: present once the user's counters are seeded
    # `holds` and the balance hold: > 0 for a paid request (limit 0), for a free one (-1)
    with_balance: tuple[tuple[Hold, ...], tuple[Hold, ...]]


@dataclass(frozen=True, slots=True)
class _SubParts:
    sub: SubscriptionRec
    ps: tuple[Period, ...]
    holds: tuple[Hold, ...]


# By the record's id; a record replaced by a snapshot reload is a new entry.
_key_parts: dict[int, _KeyParts] = {}
_sub_parts: dict[int, _SubParts] = {}
_PARTS_MAX = 10_000


def _parts_of(key: KeyRec, now: float, tz: ZoneInfo) -> _KeyParts:
    ps = periods(now, tz)
    hit = _key_parts.get(id(key))
    if hit is not None and hit.key is key and hit.ps is ps:
        return hit
    lim = key.limits
    cap = Hold(key_counter(key.user_id, key.id), lim.quota_nusd or None, "key")
    budgets = (lim.budget_daily_nusd, lim.budget_weekly_nusd, lim.budget_monthly_nusd)
    spend = tuple(
        Hold(
            key_period_counter(key.user_id, key.id, p),
            budget or None,
            _BUDGET_LABELS[p.kind],
            p.end,
        )
        for p, budget in zip(ps, budgets, strict=True)
    )
    marker = balance_counter(key.user_id)
    parts = _KeyParts(
        key=key,
        ps=ps,
        holds=(cap, *spend),
        windows=key_windows(key),
        tokens=tokens_window(key),
        concurrency=(
            (f"{tag(key.user_id)}:conc:{key.id}", lim.max_concurrency)
            if lim.max_concurrency > 0
            else None
        ),
        marker=marker,
        with_balance=(
            (cap, *spend, Hold(marker, 0, "balance")),
            (cap, *spend, Hold(marker, -1, "balance")),
        ),
    )
    if len(_key_parts) >= _PARTS_MAX:
        _key_parts.clear()
    _key_parts[id(key)] = parts
    return parts


def key_windows(key: KeyRec) -> tuple[Window, ...]:
    """The key's enabled request windows (5h, 1d, 7d, RPM)."""
    out = []
    lim = key.limits
    for name, field, bucket in REQUEST_WINDOWS:
        limit = getattr(lim, field)
        if limit > 0:
            out.append(Window(name, f"{tag(key.user_id)}:w{name[4:]}:{key.id}", limit, bucket))
    return tuple(out)


def tokens_window(key: KeyRec) -> Window | None:
    if key.limits.tpm <= 0:
        return None
    return Window("key_tpm", f"{tag(key.user_id)}:wtpm:{key.id}", key.limits.tpm, 1)


def ip_window(ip: str, ip_rpm: int) -> Window:
    return Window("ip", f"{{ip:{ip}}}:rpm", ip_rpm, 1)


def key_holds(key: KeyRec, now: float, tz: ZoneInfo) -> tuple[Hold, ...]:
    """Key cap, then the key's day/week/month spend (limited by its budgets, else tracked)."""
    return _parts_of(key, now, tz).holds


def subscription_holds(sub: SubscriptionRec, now: float, tz: ZoneInfo) -> tuple[Hold, ...]:
    ps = periods(now, tz)
    hit = _sub_parts.get(id(sub))
    if hit is not None and hit.sub is sub and hit.ps is ps:
        return hit.holds
    caps = (sub.daily_cap_nusd, sub.weekly_cap_nusd, sub.monthly_cap_nusd)
    holds = tuple(
        Hold(sub_period_counter(sub.user_id, sub.id, p), cap or None, f"sub_{p.kind}", p.end)
        for p, cap in zip(ps, caps, strict=True)
    )
    if len(_sub_parts) >= _PARTS_MAX:
        _sub_parts.clear()
    _sub_parts[id(sub)] = _SubParts(sub, ps, holds)
    return holds


@dataclass(frozen=True, slots=True)
class Ticket:
    """What settlement needs of an admission: who, which counters, the TPM window."""

    admission_id: str
    scope: str
    holds: tuple[Hold, ...]
    tokens: Window | None


def admit_request(
    admission_id: str,
    key: KeyRec,
    sub: SubscriptionRec | None,
    *,
    balance: bool,
    estimate: int,
    now: float,
    tz: ZoneInfo,
    lease_s: float,
    client_ip: str | None,
    ip_rpm: int,
) -> AdmitRequest:
    """R7.10 order of the holds: key cap, subscription windows, key budgets, balance."""
    parts = _parts_of(key, now, tz)
    # R7.8: balance > 0 as well, which a free request (estimate 0) would not check.
    paid = 0 if estimate > 0 else 1
    if sub is None:
        holds = parts.with_balance[paid] if balance else parts.holds
    else:
        kh = parts.holds
        holds = (kh[0], *subscription_holds(sub, now, tz), *kh[1:])
        if balance:
            holds = (*holds, parts.with_balance[paid][-1])
    return AdmitRequest(
        admission_id=admission_id,
        scope=str(key.user_id),
        marker=parts.marker,
        now=now,
        amount=estimate,
        lease_s=lease_s,
        windows=parts.windows,
        tokens=parts.tokens,
        concurrency=parts.concurrency,
        ip=ip_window(client_ip, ip_rpm) if ip_rpm > 0 and client_ip else None,
        holds=holds,
    )


def refusal(req: AdmitRequest, v: Verdict) -> GatewayError:
    """The error of a refused admission: E14 for windows, then E12, E13, E12 (budget), E11."""
    if v.rate:
        return error(
            "E14",
            retry_after=max(v.retry_after, 0.001),
            headers=[("x-torouter-limit", v.blocked[0] if v.blocked else "key_rpm")],
        )
    blocked = set(v.blocked)
    holds = [h for h in req.holds if h.counter in blocked]
    labels = {h.label for h in holds}
    if "key" in labels:
        return error("E12")
    subs = [h for h in holds if h.label.startswith("sub_")]
    if subs:
        return error("E13", retry_after=max(h.reset_at for h in subs) - req.now)
    budgets = [h for h in holds if h.label.startswith("key_budget_")]
    if budgets:
        last = max(budgets, key=lambda h: h.reset_at)
        return error(
            "E12",
            retry_after=last.reset_at - req.now,
            headers=[("x-torouter-limit", last.label)],
        )
    return error("E11")


def duration(seconds: float) -> str:
    """`1h2m3s`, `2m0s`, `5s`, or `250ms` under a second (OpenAI's reset format)."""
    if seconds < 1:
        return f"{max(math.ceil(seconds * 1000), 0)}ms"
    s = math.ceil(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def rate_headers(v: Verdict) -> list[tuple[bytes, bytes]]:
    """R7.5: the key request window with the least room, and the TPM trio when set."""
    out: list[tuple[bytes, bytes]] = []
    wins = [x for x in v.windows if x.name != "ip"]
    if wins:
        least = min(wins, key=lambda x: x.limit - x.used)
        out += [
            (b"x-ratelimit-limit-requests", str(least.limit).encode()),
            (b"x-ratelimit-remaining-requests", str(max(least.limit - least.used, 0)).encode()),
            (b"x-ratelimit-reset-requests", duration(least.reset_s).encode()),
        ]
    t = v.tokens
    if t is not None:
        out += [
            (b"x-ratelimit-limit-tokens", str(t.limit).encode()),
            (b"x-ratelimit-remaining-tokens", str(max(t.limit - t.used, 0)).encode()),
            (b"x-ratelimit-reset-tokens", duration(t.reset_s).encode()),
        ]
    return out
