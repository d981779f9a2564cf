"""The console's no-JavaScript playground on a server built without the gateway (R15.1): the
page says so (503) instead of failing, as the JSON API's playground answers E19. The turns
that do reach the gateway are tested end to end in tests/api/test_playground.py."""

from __future__ import annotations

from tests.console.conftest import Site


async def test_a_server_without_the_gateway_says_the_playground_is_unavailable(
    site: Site,
) -> None:
    await site.catalog()
    assert site.deps.gateway is None  # the in-process site mounts the console and API only
    c = await site.signed_in("pg-nogateway@example.com")
    form = {
        "key_id": "",
        "api_key": "sk-pasted-key",
        "model": "m-chat",
        "system": "",
        "temperature": "1",
        "max_tokens": "64",
        "message": "Hello",
    }
    r = await site.form(c, "/playground", "/playground", form)
    assert r.status_code == 503, r.text[:300]
    assert "The playground is not available on this server." in r.text
    assert 'class="msg assistant"' not in r.text
