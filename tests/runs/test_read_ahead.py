"""A pass reads its changed sources a few ahead on worker threads (runs/read_ahead.py): results
still come in the walk's order, the other sources are still read on the pass's thread, and
nothing is read after the pass lets go."""

from __future__ import annotations

import threading
import time

from labdeck.runs.read_ahead import read_ahead


def test_results_come_in_order_and_only_stateless_reads_leave_the_thread():
    threads: dict[int, str] = {}

    def read(i: int) -> int:
        time.sleep(0.002 * (i % 3))  # later items finish first at times
        threads[i] = threading.current_thread().name
        return i * 10

    out = list(read_ahead(range(40), read, lambda i: i % 4 != 0, workers=3, ahead=6))
    assert out == [i * 10 for i in range(40)]
    here = threading.current_thread().name
    assert all(threads[i] == here for i in range(0, 40, 4))
    assert all(threads[i].startswith("labdeck-read") for i in range(40) if i % 4)


def test_closing_early_leaves_no_read_running():
    started, finished = [], []
    lock = threading.Lock()

    def read(i: int) -> int:
        with lock:
            started.append(i)
        time.sleep(0.01)
        with lock:
            finished.append(i)
        return i

    reads = read_ahead(range(1000), read, lambda i: True, workers=2, ahead=8)
    assert [next(reads) for _ in range(3)] == [0, 1, 2]
    reads.close()
    done = sorted(finished)
    assert sorted(started) == done  # every read begun has ended
    assert len(done) <= 3 + 8  # and none began beyond the look-ahead
    time.sleep(0.05)
    assert sorted(finished) == done


def test_one_worker_reads_on_the_callers_thread():
    names = []
    list(read_ahead(range(5), lambda i: names.append(threading.current_thread().name), lambda i: True, workers=1))
    assert set(names) == {threading.current_thread().name}
