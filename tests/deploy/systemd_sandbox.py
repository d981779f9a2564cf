"""Run a command under the kernel restrictions a systemd unit asks for, without systemd.

    /usr/bin/python3 systemd_sandbox.py UNIT_FILE -- COMMAND [ARG...]

The test machines run no service manager, so the unit's options that act inside the kernel are
applied here the way systemd applies them before it executes the service:

- SystemCallFilter= and SystemCallErrorNumber=: a seccomp allow-list built from the groups as
  `systemd-analyze syscall-filter` expands them, `~` lines removing from it, plus the calls
  systemd always permits; any other call fails with the errno.
- RestrictAddressFamilies=: socket(2) is allowed only for the listed families.
- MemoryDenyWriteExecute=yes: both ways systemd enforces it (its seccomp rules, used by
  Debian 12's systemd 252: no mapping both writable and executable, no mprotect() or shmat()
  that adds execution at all; and the kernel's prctl(PR_SET_MDWE), used by newer ones).
- NoNewPrivileges=yes: set by libseccomp when the filter is loaded.

Run by Debian's python3 (it has the `seccomp` binding, package python3-seccomp); the command it
executes may be any program.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import socket
import subprocess
import sys

import seccomp  # type: ignore[import-not-found]

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
SHM_EXEC = 0o100000
# Permitted by systemd whatever the allow-list says (src/core/execute.c, src/shared/seccomp-util.c).
ALWAYS = ("execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn")


def unit_options(path: str) -> list[tuple[str, str]]:
    options: list[tuple[str, str]] = []
    section = ""
    with open(path) as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                options.append((key.strip(), value.strip()))
    return options


def syscall_groups() -> dict[str, list[str]]:
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and current is not None:
            item = line.strip()
            if item and not item.startswith("#"):
                current.append(item)
        elif not line.strip():
            current = None
    return groups


def expand(items: list[str], groups: dict[str, list[str]]) -> set[str]:
    result: set[str] = set()
    for item in items:
        if item.startswith("@"):
            result |= expand(groups[item], groups)
        else:
            result.add(item)
    return result


def build_filter(options: list[tuple[str, str]]) -> seccomp.SyscallFilter:
    groups = syscall_groups()
    allowed: set[str] | None = None
    err = errno.EPERM
    families: list[int] | None = None
    for key, value in options:
        if key == "SystemCallFilter":
            deny = value.startswith("~")
            names = expand(value.lstrip("~").split(), groups)
            if deny:
                assert allowed is not None, "a deny line needs an allow-list before it here"
                allowed -= names
            else:
                allowed = (allowed or set()) | names
        elif key == "SystemCallErrorNumber":
            err = getattr(errno, value)
        elif key == "RestrictAddressFamilies":
            families = [getattr(socket, name) for name in value.split()]
    assert allowed is not None, "the unit has no SystemCallFilter= allow-list"
    allowed |= set(ALWAYS)
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(err))
    if families is not None and "socket" in allowed:
        allowed.discard("socket")
        for family in families:
            f.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
    for name in sorted(allowed):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # a call this architecture does not have (e.g. arm_fadvise64_64)
    return f


def write_execute_filter() -> seccomp.SyscallFilter:
    """systemd's seccomp rules for MemoryDenyWriteExecute= (seccomp_memory_deny_write_execute)."""
    prot_wx = mmap.PROT_WRITE | mmap.PROT_EXEC
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    deny = seccomp.ERRNO(errno.EPERM)
    f.add_rule(deny, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, prot_wx, prot_wx))
    for call in ("mprotect", "pkey_mprotect"):
        f.add_rule(deny, call, seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC))
    f.add_rule(deny, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
    return f


def main(argv: list[str]) -> None:
    unit, sep, *command = argv
    assert sep == "--" and command, __doc__
    options = unit_options(unit)
    if ("MemoryDenyWriteExecute", "yes") in options:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            raise SystemExit(f"PR_SET_MDWE: {os.strerror(ctypes.get_errno())}")
        write_execute_filter().load()
    build_filter(options).load()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
