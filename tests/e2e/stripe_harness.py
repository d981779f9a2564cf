"""`torouter fake-stripe` in its own process, and signing webhooks as Stripe does."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from typing import Any

import httpx

from tests.e2e.harness import TOROUTER, wait_until
from torouter.mock.stripe import sign

__all__ = ["FakeStripeProcess", "signed_event"]


class FakeStripeProcess:
    def __init__(
        self, *, api_key: str, webhook_secret: str, webhook_url: str | None = None
    ) -> None:
        args = [*TOROUTER, "fake-stripe", "--port", "0", "--api-key", api_key]
        args += ["--webhook-secret", webhook_secret]
        if webhook_url:
            args += ["--webhook-url", webhook_url]
        self.api_key = api_key
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed before it serves
        found = re.fullmatch(r"fake Stripe listening on (\S+)\n", line)
        if not found:
            self.stop()
            raise AssertionError(f"fake-stripe did not start: {line!r}")
        self.url = found.group(1)
        wait_until(self._answers, timeout=20, what="the fake Stripe answering")

    def _answers(self) -> bool:
        try:
            self.control("GET", "/state")
        except httpx.TransportError:
            return False
        return True

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = httpx.request(method, f"{self.url}/_fake{path}", json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def api(self, method: str, path: str, **params: Any) -> Any:
        auth = {"authorization": f"Bearer {self.api_key}"}
        if method == "GET":
            r = httpx.get(f"{self.url}{path}", params=params, headers=auth, timeout=30)
        else:
            r = httpx.post(f"{self.url}{path}", data=params, headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def signed_event(event: dict[str, Any], secret: str) -> tuple[bytes, str]:
    payload = json.dumps(event, indent=2)
    return payload.encode(), sign(payload, secret, int(time.time()))
