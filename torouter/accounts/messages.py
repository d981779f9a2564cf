"""Messages of the account flows, in English with their Simplified Chinese (R8.4).

Errors carry the English text; the management API translates it when the caller prefers
Chinese (`translate`). Messages that end in a list keep the list and translate the prefix.
"""

from __future__ import annotations

__all__ = ["ZH", "allowed_domains", "translate"]

LINK_INVALID = "This link is invalid"
LINK_USED = "This link has already been used"
LINK_EXPIRED = "This link has expired; request a new one"
TICKET_DEAD = "The login has expired; sign in again"
TICKET_TRIES = "Too many wrong codes; sign in again"
TOTP_WRONG = "Wrong two-factor code"
CODE_WRONG = "Wrong code"
CODE_EXPIRED = "The code has expired or was used up; request a new one"
SIGNUP_CLOSED = "Sign-up is closed on this instance"
EMAIL_TAKEN = "This email is already registered; reset the password if it is yours"
SUSPENDED = "This account is suspended"
ALREADY_VERIFIED = "This email is already verified"
RESEND_WAIT = "A verification email was sent recently; wait before asking again"
CODE_WAIT = "A code was sent recently; wait before asking again"
WRONG_PASSWORD = "The current password is wrong"
TOTP_ON = "Two-factor authentication is already on"
TOTP_OFF = "Two-factor authentication is not on"
TOTP_NOT_STARTED = "Start enabling two-factor authentication first"
NEED_FACTOR = "Give a two-factor code or a recovery code"
EMAIL_FIXED = "The email cannot be changed; ask an administrator"
PASSWORDS_DIFFER = "The passwords do not match"
NEEDS_SESSION = "This route needs a signed-in session"
SELF_SUSPEND = "You cannot suspend your own account"
NOT_SUSPENDED = "The user is not suspended"
USER_DELETED = "The user is deleted"
USER_NOT_FOUND = "User not found"
SESSION_NOT_FOUND = "Session not found"
MANAGED_USER = "This account is declared in the config file: its role and state are set there"
SELF_ROLE = "You cannot change your own role"
NOT_UNVERIFIED = "The user's email is not waiting for verification"
_ALLOWED_PREFIX = "Allowed email domains: "

ZH = {
    LINK_INVALID: "链接无效",
    LINK_USED: "链接已被使用",
    LINK_EXPIRED: "链接已过期，请重新获取",
    TICKET_DEAD: "登录已过期，请重新登录",
    TICKET_TRIES: "验证码错误次数过多，请重新登录",
    TOTP_WRONG: "两步验证码错误",
    CODE_WRONG: "验证码错误",
    CODE_EXPIRED: "验证码已过期或已失效，请重新获取",
    SIGNUP_CLOSED: "本实例已关闭注册",
    EMAIL_TAKEN: "该邮箱已被注册；如果是你的邮箱，请重置密码",
    SUSPENDED: "该账户已被停用",
    ALREADY_VERIFIED: "该邮箱已验证",
    RESEND_WAIT: "验证邮件刚刚发送过，请稍后再试",
    CODE_WAIT: "验证码刚刚发送过，请稍后再试",
    WRONG_PASSWORD: "当前密码错误",
    TOTP_ON: "两步验证已开启",
    TOTP_OFF: "两步验证未开启",
    TOTP_NOT_STARTED: "请先开始开启两步验证",
    NEED_FACTOR: "请提供两步验证码或恢复码",
    EMAIL_FIXED: "邮箱不能修改，请联系管理员",
    PASSWORDS_DIFFER: "两次输入的密码不一致",
    NEEDS_SESSION: "此接口需要登录会话",
    SELF_SUSPEND: "不能停用自己的账户",
    NOT_SUSPENDED: "该用户未被停用",
    USER_DELETED: "该用户已删除",
    USER_NOT_FOUND: "用户不存在",
    SESSION_NOT_FOUND: "会话不存在",
    MANAGED_USER: "该账户在配置文件中声明：其角色和状态只能在配置文件中修改",
    SELF_ROLE: "不能修改自己的角色",
    NOT_UNVERIFIED: "该用户的邮箱不在待验证状态",
}


def allowed_domains(domains: tuple[str, ...] | list[str]) -> str:
    return _ALLOWED_PREFIX + ", ".join(domains)


def translate(message: str, lang: str) -> str:
    """The Chinese text of a known message when `lang` is Chinese; else unchanged."""
    if not lang.lower().startswith("zh"):
        return message
    if message.startswith(_ALLOWED_PREFIX):
        return "允许的邮箱域名：" + message[len(_ALLOWED_PREFIX) :]
    return ZH.get(message, message)
