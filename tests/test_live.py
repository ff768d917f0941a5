"""Live updates: in process, and between processes through the store's LISTEN/NOTIFY (PostgreSQL)."""
import asyncio

import pytest

from bot.live import PG_CHANNEL, LiveBus

from .conftest import require_postgres


async def test_a_bus_in_one_process_delivers_to_subscribers_of_the_topic():
    bus = LiveBus()
    with bus.subscribe("console") as a, bus.subscribe("other") as b:
        await bus.publish("console", {"what": "queue"})
        assert await a.get(1) == {"what": "queue"}
        assert await b.get(0.05) is None
    assert not bus.has_subscribers("console")


@pytest.mark.postgres
async def test_between_two_processes_worth_of_stores(store_target):
    """Two stores on one database stand for two processes; a message bigger than NOTIFY's
    limit travels in chunks."""
    if store_target.kind != "postgres":
        pytest.skip("between processes: PostgreSQL's NOTIFY (one SQLite process hands over in memory)")
    require_postgres()
    one, two = store_target.make(), store_target.make()
    sender, receiver = LiveBus(one), LiveBus(two)
    await receiver.start()
    try:
        sub = receiver.subscribe("web")
        async with asyncio.timeout(5):
            await two.listening(PG_CHANNEL)
        big = {"data": "x" * 20000, "n": 1}
        await sender.publish("web", {"n": 0})
        await sender.publish("web", big)
        assert await sub.get(5) == {"n": 0}
        assert await sub.get(5) == big
        assert not sender.has_subscribers("web")  # nothing was handed over inside the sending process
    finally:
        await receiver.stop()
        await one.dispose()
        await two.dispose()


async def test_a_reading_loop_cancelled_as_a_message_arrives_ends():
    """The web chat reads the bus in a loop until cancelled. Python 3.11's asyncio.wait_for gave
    a message to a reader cancelled just as it came, swallowing the cancellation: the loop read
    on for ever and the server's shutdown waited for it."""
    bus = LiveBus()
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
