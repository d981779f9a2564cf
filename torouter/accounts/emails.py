"""The texts of account mail, in English and Simplified Chinese (R8.4, R15.1)."""

from __future__ import annotations

from urllib.parse import quote

from torouter.accounts.mailer import Mail

__all__ = ["link", "low_balance_mail", "reset_mail", "totp_code_mail", "verify_mail"]


def link(base_url: str, path: str, token: str) -> str:
    """`<base>/verify?token=…`: the console page that finishes the flow."""
    return f"{base_url.rstrip('/')}{path}?token={quote(token, safe='')}"


def _zh(lang: str) -> bool:
    return lang.lower().startswith("zh")


def verify_mail(to: str, url: str, lang: str) -> Mail:
    if _zh(lang):
        subject = "验证你的 ToRouter 邮箱"
        text = (
            "欢迎使用 ToRouter！请打开以下链接验证你的邮箱（24 小时内有效，只能使用一次）：\n\n"
            f"{url}\n\n如果不是你本人注册，请忽略本邮件。\n"
        )
    else:
        subject = "Verify your ToRouter email"
        text = (
            "Welcome to ToRouter. Open this link to verify your email address "
            "(valid for 24 hours, single use):\n\n"
            f"{url}\n\nIf you did not sign up, ignore this message.\n"
        )
    return Mail(to=to, subject=subject, text=text, link=url)


def reset_mail(to: str, url: str, lang: str) -> Mail:
    if _zh(lang):
        subject = "重置你的 ToRouter 密码"
        text = (
            "我们收到了重置密码的请求。请打开以下链接设置新密码（1 小时内有效，只能使用一次）：\n\n"
            f"{url}\n\n如果不是你本人操作，请忽略本邮件，你的密码不会改变。\n"
        )
    else:
        subject = "Reset your ToRouter password"
        text = (
            "Someone asked to reset the password of this account. Open this link to choose "
            "a new one (valid for 1 hour, single use):\n\n"
            f"{url}\n\nIf it was not you, ignore this message; your password stays the same.\n"
        )
    return Mail(to=to, subject=subject, text=text, link=url)


def totp_code_mail(to: str, code: str, lang: str) -> Mail:
    if _zh(lang):
        subject = "ToRouter 两步验证开启验证码"
        text = (
            f"你的验证码是：{code}\n\n10 分钟内有效。用它来开启两步验证。\n"
            "如果不是你本人操作，请立即修改密码。\n"
        )
    else:
        subject = "Your ToRouter two-factor setup code"
        text = (
            f"Your code is: {code}\n\nIt is valid for 10 minutes. Enter it to turn on "
            "two-factor authentication.\nIf it was not you, change your password now.\n"
        )
    return Mail(to=to, subject=subject, text=text)


def _dollars(nusd: int) -> str:
    """`$4.20`, `-$0.50`: cents, rounded half-up (a notice, not an invoice)."""
    cents = (abs(nusd) + 5_000_000) // 10_000_000
    return f"{'-' if nusd < 0 else ''}${cents // 100:,}.{cents % 100:02d}"


def low_balance_mail(to: str, balance_nusd: int, threshold_nusd: int, url: str, lang: str) -> Mail:
    """R15.4: sent once when the balance falls below the user's threshold."""
    balance, threshold = _dollars(balance_nusd), _dollars(threshold_nusd)
    if _zh(lang):
        subject = f"ToRouter 余额不足：剩余 {balance}"
        text = (
            f"你的 ToRouter 余额为 {balance}，已低于你设置的提醒额度 {threshold}。\n\n"
            f"余额用完后，使用余额计费的 API 密钥将无法继续请求。充值：\n\n{url}\n\n"
            "余额回到提醒额度以上之前，不会再次发送此提醒。可以在个人资料中修改或关闭提醒。\n"
        )
    else:
        subject = f"Your ToRouter balance is low: {balance}"
        text = (
            f"Your ToRouter balance is {balance}, below the {threshold} you asked to be "
            "warned at.\n\n"
            "When it runs out, requests of keys billed to the balance are refused. Top up:\n\n"
            f"{url}\n\n"
            "You will not get this notice again until the balance has been back above the "
            "threshold. Change or turn it off in your profile.\n"
        )
    return Mail(to=to, subject=subject, text=text, link=url)
