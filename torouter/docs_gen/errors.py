"""docs/errors.md: every error code with its status, meaning and fix."""

from __future__ import annotations

from torouter.errors import ERRORS

__all__ = ["GUIDE", "render"]

# Per code: (when it happens, what to do). Keys must be exactly those of `ERRORS` (tested).
GUIDE: dict[str, tuple[str, str]] = {
    "E1": (
        "The request carries no API key.",
        "Send `Authorization: Bearer sk-…` (OpenAI), `x-api-key` (Anthropic) or "
        "`x-goog-api-key` (Gemini).",
    ),
    "E2": (
        "The key is not one this gateway issued, or it was deleted.",
        "Copy the key again from the console's Keys page; keys are shown once when created.",
    ),
    "E3": (
        "The key exists but an admin or its owner disabled it.",
        "Enable it on the Keys page, or use another key.",
    ),
    "E4": (
        "The key's owner no longer exists.",
        "Ask the operator for a key of an existing account.",
    ),
    "E5": (
        "The owner's account is suspended, or its email is not verified yet.",
        "Verify the email from the console banner, or ask an admin to reactivate the account.",
    ),
    "E6": (
        "The key's expiry date has passed.",
        "Create a new key, or extend the expiry on the Keys page.",
    ),
    "E7": (
        "The client IP is outside the key's allow-list or inside its block-list.",
        "Call from an allowed address, or edit the key's IP lists.",
    ),
    "E8": (
        "The key's model whitelist does not include the requested model.",
        "Use a whitelisted model, or add the model to the key's whitelist.",
    ),
    "E9": (
        "The key's group is billed by subscription and the owner has none for it.",
        "Subscribe to a plan of that group on the console's Plans page.",
    ),
    "E10": (
        "The owner's subscription for the group is paused, cancelled or expired.",
        "Renew or resume the subscription.",
    ),
    "E11": (
        "The balance cannot cover the request's reservation.",
        "Top up on the console's Purchase page, or ask an admin for a credit.",
    ),
    "E12": (
        "The key's own spending quota is used up.",
        "Raise or clear the key's quota, or create another key.",
    ),
    "E13": (
        "A subscription window (5 hours, a day, a week) reached its limit.",
        "Wait for the window to reset (the message says when) or change plan.",
    ),
    "E14": (
        "Too many requests per minute for the key, the user or the client IP.",
        "Retry after the `Retry-After` seconds; SDKs do so by themselves.",
    ),
    "E15": (
        "The API key was sent in the query string (`?key=` or similar).",
        "Send it in a header; query strings end up in logs.",
    ),
    "E16": (
        "The body is not valid for the endpoint: missing `model` or `messages`, bad JSON, "
        "an unsupported option.",
        "Fix the field the message names (`param`).",
    ),
    "E17": (
        "The body is larger than the gateway accepts (`gateway.max_body_bytes`).",
        "Send a smaller body, or raise the limit.",
    ),
    "E18": (
        "No model with this name is offered to the key's group.",
        "List the models with `GET /v1/models` using the same key.",
    ),
    "E19": (
        "The path is not an endpoint of the gateway.",
        "Check the base URL: it ends in `/v1` for OpenAI clients, without `/v1` for "
        "Anthropic and Gemini clients.",
    ),
    "E20": (
        "The gateway hit an unexpected condition (for example its store did not answer).",
        "Retry; if it persists, the operator finds the request id in the log.",
    ),
    "E21": (
        "Every upstream attempt failed with a retryable error.",
        "Retry later; the operator sees the attempts in the request's log line.",
    ),
    "E22": (
        "No channel serving this model is enabled and healthy right now.",
        "Retry later, or ask the operator to enable or add a channel.",
    ),
    "E23": (
        "The upstream did not answer within the channel's timeouts.",
        "Retry, or ask for a shorter prompt or a higher timeout.",
    ),
    "E24": (
        "The key's group was disabled by an admin.",
        "Use a key of another group, or ask an admin.",
    ),
    "E25": (
        "The key's group is no longer open to its owner.",
        "Create a key in one of the groups the console offers you.",
    ),
    "AUTH_REQUIRED": (
        "A management API call without a session or admin token.",
        "Sign in, or send `Authorization: Bearer tra_…` (`torouter create-admin-token`).",
    ),
    "INVALID_CREDENTIALS": (
        "Wrong email or password at sign-in.",
        "Retry, or reset the password from the sign-in page.",
    ),
    "TOTP_REQUIRED": (
        "The account has two-factor sign-in and no code was sent.",
        "Send the code from the authenticator app (or a recovery code).",
    ),
    "FORBIDDEN": (
        "The caller is signed in but lacks the role or the kind of session.",
        "Use an admin account or token for `/api/admin`, a signed-in session for `/api/me`.",
    ),
    "CSRF_FAILED": (
        "A session request without the matching CSRF token.",
        "Send the `X-CSRF-Token` header the session gave, or use an admin token.",
    ),
    "EMAIL_NOT_VERIFIED": (
        "The action needs a verified email.",
        "Follow the link of the verification mail (resend it from the console).",
    ),
    "EMAIL_DOMAIN_NOT_ALLOWED": (
        "Sign-up is limited to some email domains.",
        "Sign up with an address of an allowed domain.",
    ),
    "EMAIL_TAKEN": ("An account with this email exists.", "Sign in, or reset its password."),
    "CONFLICT": (
        "The change conflicts with the current state (a duplicate name, a stale version).",
        "Reload the object and apply the change again.",
    ),
    "ACCOUNT_LOCKED": (
        "Too many failed sign-ins.",
        "Wait for the time the message gives, then retry.",
    ),
    "PAYMENTS_NOT_CONFIGURED": (
        "Top-ups need the Stripe settings.",
        "An admin sets them in `[payments]` or on the settings page.",
    ),
}


def render() -> str:
    gateway = [k for k in ERRORS if k.startswith("E") and k[1:].isdigit()]
    management = [k for k in ERRORS if k not in gateway]
    out = [
        "# Error reference",
        "",
        "Every error is returned in the envelope of the protocol the client speaks (OpenAI,",
        "Anthropic or Gemini) with the HTTP status below, and carries `x-request-id` and",
        "`x-should-retry` headers. The management API (`/api/…`) uses the OpenAI envelope.",
        "The `code` is stable; the message may carry details (which field, when a limit resets).",
        "",
        "<!-- generated by `python -m torouter.docs_gen` from torouter/errors.py: do not edit -->",
        "",
        "## Gateway errors",
        "",
        *_table(gateway),
        "",
        "## Management API errors",
        "",
        *_table(management),
        "",
    ]
    return "\n".join(out)


def _table(keys: list[str]) -> list[str]:
    rows = [
        "| # | Status | Code | Retry | Meaning | Fix |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key in keys:
        spec = ERRORS[key]
        meaning, fix = GUIDE[key]
        label = key if key.startswith("E") and key[1:].isdigit() else ""
        retry = "yes" if spec.retryable else "no"
        cells = [label, str(spec.status), f"`{spec.code}`", retry, f"{spec.en}. {meaning}", fix]
        rows.append("| " + " | ".join(cells) + " |")
    return rows
