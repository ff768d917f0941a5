"""A channel that keeps deliveries in memory: for tests and the terminal.

``results`` scripts what ``deliver`` answers (a list consumed in order, then ``sent``), so tests
can play a platform that rate-limits or fails.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.envelope import DeliveryResult, Outbound


@dataclass
class Delivery:
    user_id: str
    outbound: Outbound

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.outbound.replies]

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.outbound.replies]


@dataclass
class MemoryChannel:
    name: str = "memory"
    deliveries: list[Delivery] = field(default_factory=list)
    results: list[DeliveryResult] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        self._arrived = asyncio.Event()

    async def deliver(self, user_id: str, outbound: Outbound) -> DeliveryResult:
        self.attempts += 1
        result = self.results.pop(0) if self.results else DeliveryResult("sent")
        if result.status == "sent":
            self.deliveries.append(Delivery(user_id, outbound))
            self._arrived.set()
        return result

    def for_user(self, user_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.user_id == user_id]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until at least ``count`` deliveries arrived (for tests with running loops)."""
        async def until() -> None:
            while len(self.deliveries) < count:
                self._arrived.clear()
                await self._arrived.wait()
        await asyncio.wait_for(until(), timeout)
        return self.deliveries
