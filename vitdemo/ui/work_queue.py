"""Heavy work from many sessions, one turn at a time, first come first served, with a wait estimate.

Streamlit runs every session's script in its own thread. When a class uploads at once, twenty
threads explaining at the same time share two cores: each one's torch ops start their own thread
team, all of them slow down together, and every student waits as long as the last one. Taking
turns (at most `slots` explanations at once, in arrival order) gives the same total work but
hands the first students their maps early, and makes "you are 7th, about 10 s" a real number.

Plain Python (no Streamlit), so tests drive it with threads. Written by hand: `threading.Semaphore`
is neither first-come-first-served nor able to say how many wait.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# One explanation at a time per two cores: torch already spreads one explanation's big ops over
# both, and the Python parts of a second one would only steal from it.
DEFAULT_SLOTS = max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class QueueLoad:
    """What a newcomer would wait behind."""

    ahead: int  # requests waiting or running now
    seconds_per_turn: float  # recent average length of one turn (0 before the first one)
    slots: int

    @property
    def estimated_wait_s(self) -> float:
        return self.ahead * self.seconds_per_turn / self.slots


class FairQueue:
    """At most `slots` holders at once, admitted in arrival order.

    Args:
        slots: how many turns may run at the same time.
    """

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self.slots = max(1, int(slots))
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._active = 0
        self._seconds_per_turn = 0.0  # exponential moving average of finished turns
        self._turns_done = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this caller's turn, hold it for the `with` block, then pass it on."""
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
            while self._waiting[0] is not ticket or self._active >= self.slots:
                self._cond.wait()
            self._waiting.popleft()
            self._active += 1
            self._cond.notify_all()  # the next in line may fit in another free slot
        start = time.perf_counter()
        try:
            yield
        finally:
            self._finish(time.perf_counter() - start)

    def load(self) -> QueueLoad:
        """Requests ahead of a newcomer and the recent length of a turn."""
        with self._cond:
            return QueueLoad(len(self._waiting) + self._active, self._seconds_per_turn, self.slots)

    def _finish(self, seconds: float) -> None:
        with self._cond:
            self._active -= 1
            first = self._turns_done == 0
            self._seconds_per_turn = seconds if first else 0.7 * self._seconds_per_turn + 0.3 * seconds
            self._turns_done += 1
            self._cond.notify_all()


def waiting_sentence(load: QueueLoad, what: str = "the maps") -> str:
    """What a person reads while their request waits, e.g. "Queued behind 6 requests: the maps in about 9 s…"."""
    if load.ahead == 0:
        return f"Computing {what}…"
    others = "1 request" if load.ahead == 1 else f"{load.ahead} requests"
    if load.seconds_per_turn <= 0:
        return f"Queued behind {others} from other users: {what} come next…"
    seconds = max(1, round(load.estimated_wait_s))
    return f"Queued behind {others} from other users: {what} in about {seconds} s…"
