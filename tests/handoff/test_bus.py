"""Live updates: in process, and between processes through PostgreSQL's LISTEN/NOTIFY."""
import os

import pytest

from bot.handoff.bus import LocalBus, PostgresBus

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


async def test_local_bus_delivers_to_subscribers_of_the_topic():
    bus = LocalBus()
    with bus.subscribe("console") as a, bus.subscribe("other") as b:
        await bus.publish("console", {"what": "queue"})
        assert await a.get(1) == {"what": "queue"}
        assert await b.get(0.05) is None
    assert not bus.has_subscribers("console")


async def _pg_available() -> bool:
    try:
        import asyncpg
        conn = await asyncpg.connect(PG_URL, timeout=2)
        await conn.close()
        return True
    except Exception:
        return False


@pytest.mark.postgres
async def test_postgres_bus_between_two_processes_worth_of_connections():
    if not await _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (CI must run this test)")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    one, two = PostgresBus(PG_URL), PostgresBus(PG_URL)
    await one.start()
    await two.start()
    try:
        sub = two.subscribe("web")
        big = {"data": "x" * 20000, "n": 1}  # over NOTIFY's limit: travels in chunks
        await one.publish("web", {"n": 0})
        await one.publish("web", big)
        assert await sub.get(5) == {"n": 0}
        assert await sub.get(5) == big
    finally:
        await one.stop()
        await two.stop()


async def test_a_reading_loop_cancelled_as_a_message_arrives_ends():
    """The web chat reads the bus in a loop until cancelled. Python 3.11's asyncio.wait_for gave
    a message to a reader cancelled just as it came, swallowing the cancellation: the loop read
    on for ever and the server's shutdown waited for it."""
    import asyncio

    bus = LocalBus()
    got = []
    loop = asyncio.get_running_loop()
    with bus.subscribe("t") as sub:
        async def reader():
            while True:
                got.append(await sub.get(60))

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.01)
        loop.call_soon(lambda: loop.call_soon(task.cancel))  # lands as the message is handed over
        await bus.publish("t", {"n": 1})
        done, _ = await asyncio.wait([task], timeout=1)
        assert task in done and task.cancelled()
        assert got in ([], [{"n": 1}])
