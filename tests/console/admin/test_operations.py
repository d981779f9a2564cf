"""`/admin/operations` (ToRouter extension): nodes with version and heartbeat, jobs with last
run and result, the usage queue, channel states, database and Redis health."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.console.admin.conftest import World
from tests.console.conftest import BASE
from torouter.console.app import build_console
from torouter.operations.context import OpsContext
from torouter.operations.jobs import JobLog
from torouter.operations.nodes import Heartbeat, NodeIdentity
from torouter.routing.classify import Outcome


async def test_the_page_shows_nodes_jobs_stores_and_channels(world: World) -> None:
    site = world.site
    now = dt.datetime.now(dt.UTC)
    up = Heartbeat(site.db, NodeIdentity.here("9.9.9", now=now), depth=lambda: 42)
    await up.beat()
    long_ago = now - dt.timedelta(minutes=5)
    gone = Heartbeat(site.db, NodeIdentity.here("9.9.8", now=long_ago), clock=lambda: long_ago)
    await gone.beat()  # its last beat, five minutes ago
    jobs = JobLog(site.db, "node-a")
    await jobs.record("subscriptions", now, ok=True, detail="1 expired, 0 renewed")
    await jobs.record("channel-probes", now, ok=False, detail="RuntimeError: boom")
    site.deps.health.failure(
        site.deps.snapshot.current.channels[world.channel_id],
        "m-chat",
        Outcome.RATE_LIMITED,
        status=429,
    )
    page = (await world.admin.get("/admin/operations")).text
    assert "9.9.9" in page and "9.9.8" in page
    assert ">Up<" in page and ">Gone<" in page and ">42<" in page
    assert "Subscription expiry and renewal" in page and "1 expired, 0 renewed" in page
    assert "RuntimeError: boom" in page and "Failed" in page
    assert "Database (sqlite)" in page or "Database (postgresql)" in page
    assert "Answers" in page and "current" in page  # the schema is at the code's revision
    assert "Not used" in page  # no Redis in this process
    assert "mock-openai" in page and "1 cooling" in page


async def test_stores_that_do_not_answer_are_shown_not_raised(world: World) -> None:
    async def down() -> bool:
        raise ConnectionRefusedError("gone")

    ops = OpsContext(checks={"database": down, "redis": down}, redis=True)
    console = build_console(world.site.deps, base_url=BASE, ops=ops)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(console),
        base_url="http://testserver",
        cookies=world.admin.cookies,
    ) as c:
        page = (await c.get("/admin/operations")).text
    assert page.count("Not answering") == 2 and "ConnectionRefusedError" in page


async def test_payment_and_retention_jobs_are_listed(world: World) -> None:
    """The usage retention and the payment jobs record their runs through the job log: the
    page lists them by name with what they did; a round that found nothing to do for this
    node (reconciled already this period) keeps the last real run."""
    from torouter.jobs.payments import PaymentJobs
    from torouter.usage.retention import UsageRetention

    site = world.site
    jobs = JobLog(site.db, "node-b")
    now = site.clock.now().timestamp()
    retention = UsageRetention(site.db, retention_days=30, job_log=jobs, clock=lambda: now)
    assert (await retention.run_once()).ran
    assert not (await retention.run_once()).ran  # once a day: the row keeps the real run
    payments = site.deps.payments
    assert payments is not None
    await payments.save_config({"stripe_secret_key": "sk_test_x", "stripe_webhook_secret": "w"})
    pj = PaymentJobs(payments, job_log=jobs)
    runs = await pj.run_frequent()  # nothing pending: no call to Stripe
    assert [r.job for r in runs if r.ran] == ["payments:expiry", "payments:sync"]
    page = (await world.admin.get("/admin/operations")).text
    assert "Usage log retention" in page and "0 rows and 0 hourly totals deleted" in page
    assert "Expiry of unpaid orders" in page
    assert "Sync of pending orders and refunds with Stripe" in page
    assert "0 checked, 0 credited, 0 expired, 0 errors" in page
    async with site.db.connect() as conn:
        from torouter.operations.jobs import list_jobs

        rows = {j.name: j for j in await list_jobs(conn)}
    assert rows["usage-retention"].runs == 1 and rows["payments:sync"].ok
