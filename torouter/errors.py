"""The one table of gateway errors (SPEC §8), as values with a code.

A leaf module: it imports nothing from the project, so `access/`, `routing/`, `billing/` and
`gateway/` can all raise the same errors without importing each other. Each protocol module
renders a `GatewayError` in its own envelope (`protocols/envelopes.py`).

    GatewayError
     ├── one instance per SPEC row, built by `error(code_key, ...)`
     └── UpstreamError  (a terminal upstream error relayed with the provider's status and body)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ERRORS",
    "ErrorSpec",
    "GatewayError",
    "UpstreamError",
    "error",
    "upstream_should_retry",
]


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of SPEC R8.1 (plus the management API codes of R16.3).

    `retryable` is the table's Retry column; it is sent as `x-should-retry: true|false` on every
    error, because the official SDKs and CLIs obey that header before their own status rules
    (Claude Code otherwise retries a 401 for minutes; E13's "after reset" is `false`).
    """

    status: int
    code: str
    type: str
    en: str
    zh: str
    retryable: bool = False


def _row(
    status: int, code: str, en: str, zh: str, *, type: str | None = None, retryable: bool = False
) -> ErrorSpec:
    """A row whose `type` is its code unless named (several codes share ACCESS_DENIED)."""
    return ErrorSpec(status, code, type or code, en, zh, retryable)


# Keys are the E-numbers of SPEC R8.1 for gateway rows, the code itself for the rest.
ERRORS: dict[str, ErrorSpec] = {
    "E1": _row(401, "API_KEY_REQUIRED", "API key is required", "需要提供 API key"),
    "E2": _row(401, "INVALID_API_KEY", "Invalid API key", "API key 无效"),
    "E3": _row(401, "API_KEY_DISABLED", "API key is disabled", "API key 已被禁用"),
    "E4": _row(401, "USER_NOT_FOUND", "User not found", "用户不存在"),
    "E5": _row(401, "USER_INACTIVE", "User is inactive", "用户未激活或已停用"),
    "E6": _row(403, "API_KEY_EXPIRED", "API key has expired", "API key 已过期"),
    "E7": _row(403, "ACCESS_DENIED", "Access denied", "访问被拒绝"),
    "E8": _row(
        403,
        "model_not_allowed",
        "Model is not allowed for this API key",
        "该 API key 不允许使用此模型",
        type="ACCESS_DENIED",
    ),
    "E9": _row(403, "SUBSCRIPTION_NOT_FOUND", "No subscription for this group", "未订阅该分组"),
    "E10": _row(
        403, "SUBSCRIPTION_INVALID", "Subscription is not active", "订阅已暂停、取消或过期"
    ),
    "E11": _row(
        402,
        "INSUFFICIENT_BALANCE",
        "Insufficient balance, please top up",
        "余额不足，请充值",
    ),
    "E12": _row(
        429,
        "API_KEY_QUOTA_EXHAUSTED",
        "API key quota exhausted",
        "API key 额度已用尽",
    ),
    "E13": _row(
        429,
        "USAGE_LIMIT_EXCEEDED",
        "Subscription usage limit exceeded",
        "订阅用量已达上限",
    ),
    "E14": _row(429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded", "请求过于频繁", retryable=True),
    "E15": _row(
        400,
        "api_key_in_query_deprecated",
        "Passing the API key in the query string is not allowed; use a header",
        "不允许在查询参数中传递 API key，请使用请求头",
    ),
    "E16": _row(400, "INVALID_REQUEST", "Invalid request", "请求无效"),
    "E17": _row(413, "REQUEST_TOO_LARGE", "Request body too large", "请求体过大"),
    "E18": _row(404, "MODEL_NOT_FOUND", "Model not found", "模型不存在"),
    "E19": _row(404, "NOT_FOUND", "Not found", "未找到"),
    "E20": _row(
        500, "INTERNAL_ERROR", "Internal error, please retry", "内部错误，请重试", retryable=True
    ),
    "E21": _row(
        502,
        "upstream_unavailable",
        "Service temporarily unavailable",
        "服务暂时不可用",
        retryable=True,
    ),
    "E22": _row(
        503,
        "upstream_unavailable",
        "No channel is available for this model right now",
        "当前没有可用的渠道",
        retryable=True,
    ),
    "E23": _row(504, "UPSTREAM_TIMEOUT", "Upstream timed out", "上游请求超时", retryable=True),
    "E24": _row(
        403, "group_disabled", "The key's group is disabled", "该分组已停用", type="ACCESS_DENIED"
    ),
    "E25": _row(
        403,
        "group_not_allowed",
        "The key's group is no longer available to this user",
        "该分组已不对此用户开放",
        type="ACCESS_DENIED",
    ),
    # Management API (R16.3)
    "AUTH_REQUIRED": _row(401, "AUTH_REQUIRED", "Authentication required", "需要登录"),
    "INVALID_CREDENTIALS": _row(
        401, "INVALID_CREDENTIALS", "Invalid email or password", "邮箱或密码错误"
    ),
    "TOTP_REQUIRED": _row(401, "TOTP_REQUIRED", "Two-factor code required", "需要两步验证码"),
    "FORBIDDEN": _row(403, "FORBIDDEN", "Forbidden", "无权限"),
    "CSRF_FAILED": _row(403, "CSRF_FAILED", "CSRF check failed", "CSRF 校验失败"),
    "EMAIL_NOT_VERIFIED": _row(403, "EMAIL_NOT_VERIFIED", "Email not verified", "邮箱未验证"),
    "EMAIL_DOMAIN_NOT_ALLOWED": _row(
        400, "EMAIL_DOMAIN_NOT_ALLOWED", "Email domain not allowed", "不允许的邮箱域名"
    ),
    "EMAIL_TAKEN": _row(409, "EMAIL_TAKEN", "Email already registered", "邮箱已被注册"),
    "CONFLICT": _row(409, "CONFLICT", "Conflict", "冲突"),
    "ACCOUNT_LOCKED": _row(429, "ACCOUNT_LOCKED", "Account temporarily locked", "账户已临时锁定"),
    "PAYMENTS_NOT_CONFIGURED": _row(
        503,
        "PAYMENTS_NOT_CONFIGURED",
        "Payments are not configured on this instance",
        "本实例未配置支付",
    ),
}


@dataclass(slots=True)
class GatewayError(Exception):
    """An error answered to the client; rendered by the caller's protocol envelope."""

    spec: ErrorSpec
    message: str | None = None  # overrides the table's text (e.g. E16 details)
    param: str | None = None
    retry_after: float | None = None  # seconds; rendered rounded up, at least 1
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.spec.code)

    @property
    def status(self) -> int:
        return self.spec.status

    @property
    def code(self) -> str:
        return self.spec.code

    def text(self, lang: str = "en") -> str:
        if self.message is not None:
            return self.message
        return self.spec.zh if lang.startswith("zh") else self.spec.en


def error(
    key: str,
    message: str | None = None,
    *,
    param: str | None = None,
    retry_after: float | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> GatewayError:
    """Build the error of SPEC row `key` (`"E16"`, `"AUTH_REQUIRED"`…)."""
    return GatewayError(ERRORS[key], message, param, retry_after, headers or [])


# Statuses the official SDKs retry when the answer carries no `x-should-retry` (R8.1).
_RETRIED_STATUSES = frozenset({408, 409, 429})


def upstream_should_retry(status: int, header: str | None) -> bool:
    """`x-should-retry` for a relayed upstream error: the upstream's own header when it sent
    one, else what the SDKs decide from the status (408, 409, 429 and 5xx retry)."""
    if header is not None:
        value = header.strip().lower()
        if value in ("true", "false"):
            return value == "true"
    return status in _RETRIED_STATUSES or status >= 500


@dataclass(slots=True)
class UpstreamError(Exception):
    """A terminal upstream error (R8.2): the provider's status, type and message."""

    status: int
    platform: str
    type: str
    message: str
    body: bytes = b""  # the raw upstream body, relayed when protocols match
    content_type: str = "application/json"
    should_retry: bool = False  # sent as `x-should-retry` (`upstream_should_retry`)

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.status} {self.type}")

    @property
    def retry_header(self) -> tuple[bytes, bytes]:
        """The `x-should-retry` header the relayed error carries (R8.1)."""
        return (b"x-should-retry", b"true" if self.should_retry else b"false")
