"""A pass reads its changed sources a few ahead on worker threads and writes its batches on
a thread of its own (runs/read_ahead.py, runs/batch_writer.py): results still come in the
walk's order, stateful readers still read on the pass's thread, nothing is read or written
after the pass lets go, and a failed write is the pass's failure."""

from __future__ import annotations

import threading
import time

import pytest
from labdeck.runs.batch_writer import BatchWriter
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


def test_batches_are_written_in_order_on_the_writers_thread():
    written, threads = [], set()

    def write(batch: list[int]) -> None:
        time.sleep(0.005)
        threads.add(threading.current_thread().name)
        written.append(list(batch))

    writer: BatchWriter[list[int]] = BatchWriter(write)
    for i in range(10):
        writer.put([i, i + 1])
    writer.close()
    assert written == [[i, i + 1] for i in range(10)]
    assert threads == {"labdeck-index-write"}


def test_a_failed_write_is_raised_to_the_pass_and_nothing_after_it_is_written():
    written = []

    def write(batch: int) -> None:
        if batch == 2:
            raise OSError("disk full")
        written.append(batch)

    writer: BatchWriter[int] = BatchWriter(write)
    with pytest.raises(OSError, match="disk full"):
        for i in range(50):
            writer.put(i)
            time.sleep(0.002)
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert written == [0, 1]
