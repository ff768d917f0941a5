"""A worker process for the SIGKILL test: runs the runtime's worker and sender against the test
database and delivers to a file (a memory channel cannot cross processes).

    python tests/store/crash_worker.py URL SCHEMA|- DATA_DIR OUT_FILE [--until-idle]

The file channel appends one JSON line per delivery. Like LINE with ``X-Line-Retry-Key``, the
platform side is expected to drop a repeat of the same retry key; the test checks that only a
row interrupted between delivery and "mark sent" is ever repeated, always with its own key.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.envelope import DeliveryResult  # noqa: E402
from bot.reload import BundleHolder  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.conftest import MINI, SECRET  # noqa: E402


class FileChannel:
    name = "memory"

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def deliver(self, user_id, outbound):
        line = json.dumps({"user": user_id, "retry_key": outbound.retry_key, "inbox_id": outbound.meta.get("inbox_id"),
                           "keys": [r.key for r in outbound.replies]}) + "\n"
        os.write(self.fd, line.encode())  # one O_APPEND write: a kill leaves a whole line or none
        await asyncio.sleep(0.001)         # a little network time, so kills land mid-delivery too
        return DeliveryResult("sent")


async def main(url: str, schema: str, data_dir: str, out: str, until_idle: bool) -> None:
    settings = Settings(BOT_DATA_DIR=data_dir, BOT_SECRET_KEY=SECRET.decode(), DATABASE_URL="")
    store = Store(url, SECRET, schema=None if schema == "-" else schema)
    runtime = Runtime(settings, BundleHolder(MINI / "flows", MINI / "locales", "mini"), store=store,
                      poll_interval=0.05)
    runtime.register_channel(FileChannel(out))
    if until_idle:
        # After the last kill: let the dead workers' delivery leases run out.
        runtime.clock = lambda: time.time() + 2 * runtime.lease_seconds
        await runtime.start(run_worker=False, migrate=False)
        await runtime.drain()
        await runtime.stop()
        return
    await runtime.start(run_worker=True, migrate=False)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5], until_idle="--until-idle" in sys.argv))
