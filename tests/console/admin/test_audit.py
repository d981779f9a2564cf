"""`/admin/audit`: newest first, filtered by actor, action and target (in the URL), paged,
each reference linked to its page."""

from __future__ import annotations

import re

from tests.console.admin.conftest import World
from torouter.api.audit import record_audit


async def test_filters_pages_and_links(world: World) -> None:
    async with world.site.db.begin() as conn:
        for i in range(60):
            await record_audit(
                conn,
                actor="user:1" if i % 2 else "token:7",
                action="user.suspend" if i % 3 else "channel.update",
                target=f"user:{world.user_id}" if i % 3 else f"channel:{world.channel_id}",
                detail={"n": i, "fields": ["a", "b"]},
            )
    page = (await world.admin.get("/admin/audit")).text
    assert "60 entries." in page and "Page 1 of 2" in page
    numbers = [int(n) for n in re.findall(r"<dt>n</dt><dd>(\d+)</dd>", page)]
    assert numbers == list(range(59, 9, -1))  # newest first, 50 a page
    assert f'href="/admin/users/{world.user_id}"' in page
    assert f'href="/admin/channels/{world.channel_id}"' in page
    assert "[&#34;a&#34;, &#34;b&#34;]" in page or '["a", "b"]' in page
    page = (await world.admin.get("/admin/audit?page=2")).text
    assert "Page 2 of 2" in page and 'rel="prev"' in page
    page = (await world.admin.get("/admin/audit?action=channel.update&actor=token:7")).text
    assert "10 entries." in page  # i ≡ 0 (mod 6)
    page = (await world.admin.get(f"/admin/audit?target=channel:{world.channel_id}")).text
    assert "20 entries." in page
    # The pager keeps the filters.
    assert "action=channel.update" not in page or "page=" not in page
    page = (await world.admin.get("/admin/audit?actor=nobody")).text
    assert "No entry matches." in page
