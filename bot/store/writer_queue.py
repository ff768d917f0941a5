"""One SQLite writer at a time in this process (``Store`` uses it for every transaction)."""
from __future__ import annotations

import asyncio
import collections
import contextlib


class WriterQueue:
    """One SQLite writer at a time in this process, first come first served, except that urgent
    waiters (a webhook that LINE times out after 2 s) go before the worker's and sender's, but
    not more than ``URGENT_STREAK`` times in a row while one of those waits: a long burst of
    webhooks (their commits follow each other without a gap) must not starve the turns."""

    URGENT_STREAK = 4

    def __init__(self) -> None:
        self._busy = False
        self._urgent: collections.deque[asyncio.Future] = collections.deque()
        self._normal: collections.deque[asyncio.Future] = collections.deque()
        self._streak = 0  # urgent turns given in a row while a normal waiter waited

    async def acquire(self, urgent: bool = False) -> None:
        if not self._busy and not self._urgent and not self._normal:
            self._busy = True
            return
        waiter = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just as we gave up: pass the turn on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        order = (self._urgent, self._normal)
        if self._streak >= self.URGENT_STREAK and any(not w.done() for w in self._normal):
            order = (self._normal, self._urgent)
        for queue in order:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes on; we stay busy
                    self._streak = self._streak + 1 if queue is self._urgent and self._normal else 0
                    return
        self._busy = False
        self._streak = 0
