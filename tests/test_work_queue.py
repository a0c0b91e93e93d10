"""The explanation queue: first come first served, never more than its slots, an honest wait estimate."""

from __future__ import annotations

import threading
import time

from vitdemo.ui.work_queue import FairQueue, QueueLoad, waiting_sentence


def test_turns_are_taken_in_arrival_order_and_never_more_than_the_slots():
    queue = FairQueue(slots=2)
    order, running, peak = [], [0], [0]
    lock = threading.Lock()

    def work(i: int) -> None:
        with queue.turn():
            with lock:
                order.append(i)
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1

    threads = []
    for i in range(8):
        thread = threading.Thread(target=work, args=(i,))
        thread.start()
        threads.append(thread)
        time.sleep(0.005)  # arrive one after the other
    for thread in threads:
        thread.join()
    assert peak[0] == 2
    assert order == list(range(8))


def test_load_counts_who_is_ahead_and_estimates_the_wait():
    queue = FairQueue(slots=1)
    with queue.turn():
        time.sleep(0.05)
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        with queue.turn():
            started.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait()

    def wait_a_turn() -> None:
        with queue.turn():
            pass

    waiters = [threading.Thread(target=wait_a_turn) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    deadline = time.monotonic() + 5
    while queue.load().ahead < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    load = queue.load()
    assert load.ahead == 4  # one running, three waiting
    assert 0.04 < load.seconds_per_turn < 1.0
    assert load.estimated_wait_s == load.ahead * load.seconds_per_turn
    release.set()
    for thread in (holder, *waiters):
        thread.join(timeout=5)
    assert queue.load().ahead == 0


def test_an_error_inside_a_turn_frees_the_slot():
    queue = FairQueue(slots=1)
    try:
        with queue.turn():
            raise ValueError("boom")
    except ValueError:
        pass
    done = threading.Event()
    thread = threading.Thread(target=lambda: (queue.turn().__enter__(), done.set()))
    thread.start()
    assert done.wait(2), "the slot was never given back"


def test_waiting_sentence_says_where_you_are_in_plain_words():
    assert waiting_sentence(QueueLoad(0, 1.5, 1)) == "Computing the maps…"
    assert waiting_sentence(QueueLoad(6, 1.5, 1)) == (
        "Queued behind 6 requests from other users: the maps in about 9 s…"
    )
    assert "1 request " in waiting_sentence(QueueLoad(1, 0.2, 1))
    assert "come next" in waiting_sentence(QueueLoad(2, 0.0, 1))
