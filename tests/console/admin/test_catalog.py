"""`/admin/groups`, `/admin/plans`, `/admin/models` (R7.6, R7.7, R6.0, R10.3): create, edit,
delete through the admin API's rules; a model's price edit reaches the gateway's snapshot
before the page answers (the next request is billed at it); managed objects are read-only
with a note (R17.10); every change is in the audit log."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update

from tests.console.admin.conftest import World
from torouter.storage.tables import groups, models, plans

GROUP_FORM = {
    "name": "team",
    "description": "the team",
    "billing_type": "balance",
    "price_multiplier": "1.5",
    "visibility": "private",
    "status": "enabled",
    "models": "m-chat\nm-embed",
    "rpm": "60",
    "quota_usd": "25",
}


async def test_group_create_edit_delete(world: World) -> None:
    r = await world.post("/admin/groups/new", "/admin/groups", GROUP_FORM)
    assert r.status_code == 303, r.text[-600:]
    url = r.headers["location"].split("?")[0]
    group_id = int(url.rsplit("/", 1)[1])
    snap = world.site.deps.snapshot.current.groups[group_id]
    assert snap.catalog == ("m-chat", "m-embed") and snap.multiplier == Decimal("1.5")
    assert snap.default_key_limits["rpm"] == 60
    assert snap.default_key_limits["quota_nusd"] == 25 * 10**9
    page = (await world.admin.get(url)).text
    assert 'value="team"' in page and "Granted users" in page  # private: its grants below
    edited = {**GROUP_FORM, "models": "m-embed\nm-chat", "status": "disabled", "rpm": ""}
    r = await world.post(url, url, edited)
    assert r.status_code == 303
    snap = world.site.deps.snapshot.current.groups[group_id]
    assert snap.catalog == ("m-embed", "m-chat") and snap.status == "disabled"
    assert "rpm" not in snap.default_key_limits
    # Refusals next to their field: an unknown model (its line), a taken name, a bad decimal.
    r = await world.post(url, url, {**GROUP_FORM, "models": "m-chat\nnope"})
    assert r.status_code == 400 and 'id="models-error"' in r.text and "nope" in r.text
    r = await world.post(url, url, {**GROUP_FORM, "name": "default"})
    assert r.status_code == 409 and "already exists" in r.text
    r = await world.post(url, url, {**GROUP_FORM, "price_multiplier": "-1"})
    assert r.status_code == 400 and 'id="price_multiplier-error"' in r.text
    # Grant by email, then revoke from the group's page.
    r = await world.post(url, f"{url}/grants", {"grant_email": "ALICE@example.com"})
    assert r.status_code == 303
    assert world.user_id in world.site.deps.snapshot.current.groups[group_id].granted
    r = await world.post(url, f"{url}/grants", {"grant_email": "ghost@example.com"})
    assert r.status_code == 400 and "No account has this email." in r.text
    r = await world.post(url, f"{url}/grants", {"user_id": str(world.user_id)})
    assert r.status_code == 303
    r = await world.post(f"{url}/delete", f"{url}/delete", {})
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/groups?notice=")
    assert group_id not in world.site.deps.snapshot.current.groups
    actions = [a["action"] for a in await world.audit()]
    assert actions[-5:] == [
        "group.create",
        "group.update",
        "group.grant",
        "group.revoke",
        "group.delete",
    ]


async def test_a_group_in_use_is_not_deleted(world: World) -> None:
    url = f"/admin/groups/{world.sub_group_id}"
    r = await world.post(f"{url}/delete", f"{url}/delete", {})
    assert r.status_code == 409 and "disable it instead" in r.text
    assert world.sub_group_id in world.site.deps.snapshot.current.groups


async def test_plan_create_edit_and_the_in_use_rule(world: World) -> None:
    form = {
        "name": "pro-yearly",
        "group_id": str(world.sub_group_id),
        "price_usd": "99.90",
        "duration_days": "365",
        "daily_cap_usd": "5",
        "weekly_cap_usd": "0",
        "monthly_cap_usd": "50",
        "max_per_user": "0",
        "enabled": "on",
    }
    r = await world.post("/admin/plans/new", "/admin/plans", form)
    assert r.status_code == 303, r.text[-600:]
    url = r.headers["location"].split("?")[0]
    async with world.site.db.connect() as conn:
        row = (
            (await conn.execute(select(plans).where(plans.c.name == "pro-yearly"))).mappings().one()
        )
    assert row["price_nusd"] == 99_900_000_000 and row["monthly_cap_nusd"] == 50 * 10**9
    r = await world.post(url, url, {**form, "enabled": ""})
    assert r.status_code == 303
    async with world.site.db.connect() as conn:
        assert not await conn.scalar(select(plans.c.enabled).where(plans.c.id == row["id"]))
    # A balance group cannot have plans; a price with 10 decimals is refused.
    r = await world.post(url, url, {**form, "group_id": str(world.group_id)})
    assert r.status_code == 400 and "not a subscription group" in r.text
    r = await world.post(url, url, {**form, "price_usd": "1.0000000001"})
    assert r.status_code == 400 and 'id="price_usd-error"' in r.text
    r = await world.post(f"{url}/delete", f"{url}/delete", {})
    assert r.status_code == 303
    actions = [a["action"] for a in await world.audit()]
    assert actions[-3:] == ["plan.create", "plan.update", "plan.delete"]


async def test_a_price_edit_reaches_the_gateway_before_the_page_answers(world: World) -> None:
    """R10.3, R7.12: the snapshot the gateway prices from is updated by the edit itself."""
    url = "/admin/models/m-chat"
    page = (await world.admin.get(url)).text
    assert 'value="3"' in page  # input: $3 per 1M
    form = {
        "display_name": "Chat",
        "vendor": "anthropic",
        "owned_by": "",
        "modality": "text",
        "endpoint_chat": "on",
        "endpoint_messages": "on",
        "context_length": "200000",
        "max_output_tokens": "8192",
        "sort_order": "0",
        "supports_thinking": "on",
        "thinking_defaults": '{"anthropic": {"budget_tokens": 2048}}',
        "enabled": "on",
        "prices.input": "2.5",
        "prices.output": "12.125",
        "prices.cache_read": "",
        "prices.per_request": "0.001",
    }
    r = await world.post(url, url, form)
    assert r.status_code == 303, r.text[-800:]
    prices = world.site.deps.snapshot.current.models["m-chat"].prices
    assert prices.input == Decimal("2.5") and prices.output == Decimal("12.125")
    assert prices.cache_read == Decimal("2.5")  # unset: follows input
    assert prices.per_request == Decimal("0.001")
    audit = (await world.audit())[-1]
    assert audit["action"] == "model.update" and audit["target"] == "model:m-chat"
    assert audit["detail"]["price_input"] == "2.5"  # type: ignore[index]
    rec = world.site.deps.snapshot.current.models["m-chat"]
    assert rec.thinking_defaults == {"anthropic": {"budget_tokens": 2048}}
    assert rec.endpoints == frozenset({"chat", "messages"})
    # Refusals: a price that is not a decimal, thinking defaults that are not an object.
    r = await world.post(url, url, {**form, "prices.input": "cheap"})
    assert r.status_code == 400 and 'id="prices.input-error"' in r.text
    r = await world.post(url, url, {**form, "thinking_defaults": "[1]"})
    assert r.status_code == 400 and 'id="thinking_defaults-error"' in r.text
    assert world.site.deps.snapshot.current.models["m-chat"].prices.input == Decimal("2.5")


async def test_model_create_list_flags_and_delete(world: World) -> None:
    form = {
        "id": "free-one",
        "vendor": "openai",
        "modality": "embedding",
        "endpoint_embeddings": "on",
        "enabled": "on",
    }
    r = await world.post("/admin/models/new", "/admin/models", form)
    assert r.status_code == 303, r.text[-600:]
    listing = (await world.admin.get("/admin/models?modality=embedding")).text
    assert "free-one" in listing and "Free: every price is 0" in listing and "m-chat" not in listing
    r = await world.post("/admin/models/new", "/admin/models", form)
    assert r.status_code == 409 and "already exists" in r.text
    r = await world.post("/admin/models/new", "/admin/models", {**form, "id": "has space"})
    assert r.status_code == 400 and 'id="id-error"' in r.text
    # A model id with a slash has its pages too.
    assert (await world.admin.get("/admin/models/vendor/with-slash")).status_code == 200
    r = await world.post("/admin/models/free-one/delete", "/admin/models/free-one/delete", {})
    assert r.status_code == 303 and "free-one" not in world.site.deps.snapshot.current.models


async def test_managed_objects_are_read_only_with_a_note(world: World) -> None:
    """R17.10: the pages show no form and the handlers refuse."""
    async with world.site.db.begin() as conn:
        await conn.execute(update(groups).where(groups.c.id == world.group_id).values(managed=True))
        await conn.execute(update(plans).where(plans.c.id == world.plan_id).values(managed=True))
        await conn.execute(update(models).where(models.c.id == "m-chat").values(managed=True))
    plan_form = {"name": "p", "group_id": str(world.sub_group_id), "price_usd": "1"}
    for url, note, valid in (
        (f"/admin/groups/{world.group_id}", "This group is declared", GROUP_FORM),
        (f"/admin/plans/{world.plan_id}", "This plan is declared", plan_form),
        ("/admin/models/m-chat", "This model is declared", {"modality": "text"}),
    ):
        page = (await world.admin.get(url)).text
        assert note in page, url
        assert f'action="{url}"' not in page and f'href="{url}/delete"' not in page
        r = await world.post(url, url, valid)  # a forged post: refused all the same
        assert r.status_code == 409 and "read-only" in r.text, url
        r = await world.post(url, f"{url}/delete", {})
        assert r.status_code == 409 and "read-only" in r.text, url
    listing = (await world.admin.get("/admin/groups")).text
    assert "Managed" in listing
