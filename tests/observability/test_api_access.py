"""Management API requests in the access log (R17.1): method, route template, status,
duration, request id and actor; never a body or the values in the path."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.e2e.harness import GatewayProcess

CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
[demo]
enabled = false
"""


def test_management_requests_are_access_logged_without_bodies(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, CONFIG)
    gw.cli("migrate", "up", "-c", str(gw.config_path))
    token = gw.cli("create-admin-token", "-c", str(gw.config_path)).stdout.strip()
    gw.start()
    try:
        auth = {"Authorization": f"Bearer {token}"}
        with gw.client() as c:
            r = c.get("/api/admin/users/424242", headers={**auth, "X-Request-Id": "acc-1"})
            assert r.status_code == 404
            line = gw.access_line("acc-1")
            assert line["surface"] == "api"
            assert line["method"] == "GET"
            assert line["route"] == "/api/admin/users/{user_id}"  # the template, not 424242
            assert line["status"] == 404
            assert line["actor"].startswith("token:")
            assert isinstance(line["duration_ms"], float)

            secret = "body-secret-never-logged"
            r = c.post(
                "/api/admin/users/424242/balance",
                headers={**auth, "X-Request-Id": "acc-2"},
                json={"amount_usd": "1", "reason": secret, "note": secret},
            )
            line = gw.access_line("acc-2")
            assert line["route"] == "/api/admin/users/{user_id}/balance"
            assert line["method"] == "POST" and line["status"] == r.status_code

            c.get("/api/admin/users", headers={"X-Request-Id": "acc-3"})
            line = gw.access_line("acc-3")
            assert line["status"] == 401 and line["actor"] is None
            assert line["route"] == "/api/admin/users"

            c.get("/api/no-such-thing", headers={"X-Request-Id": "acc-4"})
            assert gw.access_line("acc-4")["status"] == 404
        logged = b"".join(orjson.dumps(rec) for rec in gw.lines)
        assert secret.encode() not in logged and token.encode() not in logged
    finally:
        gw.stop()
