"""Testing every model of a channel and comparing it with the upstream's `/models` (ToRouter
extensions): a result per model, streamed as HTML without JavaScript or as server-sent
events with it; the upstream's list against the channel's models, additions and removals
applied through the channel edit."""

from __future__ import annotations

import re

from tests.console.admin.conftest import World
from tests.console.conftest import csrf_of


async def test_every_model_tested_as_a_page(world: World) -> None:
    url = f"/admin/channels/{world.channel_id}/check"
    page = (await world.admin.get(url)).text
    assert "m-chat" in page and "(embedding)" in page and "Not run yet." in page
    r = await world.post(url, url, {"stream": "on"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    items = re.findall(r'<li class="check-item (\w+)"><span class="check-model">([^<]+)<', r.text)
    assert sorted(items) == [("ok", "m-chat"), ("ok", "m-embed")]
    assert "first byte" in r.text  # the chat was streamed: time to first byte shown
    assert "embedding[" in r.text
    assert "Done: 2 passed, 0 failed, of 2." in r.text
    assert r.text.rstrip().endswith("</html>")
    audit = (await world.audit())[-1]
    assert (audit["action"], audit["detail"]) == (
        "channel.check_models",
        {"models": 2, "stream": True},
    )


async def test_every_model_tested_as_events(world: World) -> None:
    url = f"/admin/channels/{world.channel_id}/check"
    csrf = csrf_of((await world.admin.get(url)).text)
    r = await world.admin.post(
        url, data={"csrf_token": csrf}, headers={"accept": "text/event-stream"}
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.split("\n\n") if block]
    names = [block.split("\n")[0] for block in events]
    assert names == ["event: result", "event: result", "event: done"]
    for block in events[:2]:
        data = block.split("\n", 1)[1]
        assert data.startswith('data: <li class="check-item ok">') and "\n" not in data
    assert events[2].endswith('{"ok": 2, "failed": 0, "total": 2}')


async def test_failures_are_results(world: World) -> None:
    await world.mock_directive("status=404")  # every model refused: each result says so
    url = f"/admin/channels/{world.channel_id}/check"
    r = await world.post(url, url, {})
    assert "Done: 0 passed, 2 failed, of 2." in r.text and "404" in r.text


async def test_compare_with_the_upstream_and_apply(world: World) -> None:
    url = f"/admin/channels/{world.channel_id}/models"
    page = (await world.admin.get(url)).text
    assert 'name="add:gpt-4o"' in page  # the mock lists it, the channel does not serve it
    assert 'name="remove:m-chat"' in page and 'name="remove:m-embed"' in page
    r = await world.post(url, url, {})
    assert r.status_code == 400 and "Tick at least one model" in r.text
    r = await world.post(url, url, {"add:gpt-4o": "on", "add:o3": "on", "remove:m-embed": "on"})
    assert r.status_code == 303
    models = world.site.deps.snapshot.current.channels[world.channel_id].models
    assert models == frozenset({"m-chat", "gpt-4o", "o3"})
    audit = (await world.audit())[-1]
    assert audit["action"] == "channel.update" and audit["detail"] == {"fields": ["models"]}
    page = (await world.admin.get(url)).text
    assert 'name="add:gpt-4o"' not in page and "are among them" in page


async def test_an_upstream_without_a_list_says_why(world: World) -> None:
    await world.mock_directive("status=401")
    r = await world.admin.get(f"/admin/channels/{world.channel_id}/models")
    assert r.status_code == 502 and "HTTP 401" in r.text and "Try again" in r.text
    assert "sk-mock-credential" not in r.text
