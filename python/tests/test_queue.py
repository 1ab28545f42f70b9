"""seqflow.Queue: the multiprocessing.Queue contract across processes."""
import gc
import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time
import warnings

import pytest

import seqflow
import helpers
from helpers import JOIN


def join_all(procs):
    for p in procs:
        p.join(JOIN)
        assert p.exitcode is not None, "child did not finish"


def test_kinds_round_trip():
    with seqflow.Queue(maxsize=16, slot_size=256) as q:
        items = [b"raw", bytearray(b"ba"), {"a": [1, 2]}, 42, None, "text"]
        for item in items:
            q.put(item)
        q.put(memoryview(b"mv"))
        got = [q.get(timeout=5) for _ in range(len(items) + 1)]
        assert got[:-1] == items
        assert type(got[1]) is bytearray
        assert got[-1] == b"mv"


def test_full_and_empty():
    with seqflow.Queue(maxsize=4, slot_size=16) as q:
        assert q.maxsize == 4 and q.empty()
        for i in range(4):
            q.put_nowait(i)
        assert q.full() and q.qsize() == 4
        with pytest.raises(queue.Full):
            q.put_nowait(9)
        with pytest.raises(queue.Full):
            q.put(9, timeout=0.05)
        assert [q.get_nowait() for _ in range(4)] == [0, 1, 2, 3]
        with pytest.raises(queue.Empty):
            q.get_nowait()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.05)
        with pytest.raises(queue.Empty):
            q.get_many(4, timeout=0.05)
        # As multiprocessing.Queue: without block the timeout is ignored, even a negative one.
        q.put(5, False, -1)
        assert q.get(False, -1) == 5


def test_oversized_item_names_both_sizes():
    with seqflow.Queue(maxsize=4, slot_size=16) as q:
        with pytest.raises(ValueError, match=r"17 bytes.*16 bytes"):
            q.put(b"x" * 17)
        with pytest.raises(ValueError, match="16 bytes"):
            q.put(list(range(100)))
        with pytest.raises(ValueError):
            q.put_many([b"ok", b"y" * 100])
        assert q.empty(), "put_many checks every item before putting any"


def test_put_many_get_many():
    with seqflow.Queue(maxsize=64, slot_size=64) as q:
        q.put_many([b"%d" % i for i in range(50)])
        got = q.get_many(100, timeout=5)
        assert got == [b"%d" % i for i in range(50)]


def test_large_slots_round_trip():
    with seqflow.Queue(maxsize=4, slot_size=60000) as q:
        assert q.slot_size == 60000
        big = bytes(range(256)) * 234
        q.put(big)
        q.put_many([big[:1000], bytearray(big)])
        assert q.get(timeout=5) == big
        assert q.get_many(2, timeout=5) == [big[:1000], bytearray(big)]
    with seqflow.Queue(maxsize=4, slot_size=65537) as q:  # past the old largest class
        assert q.slot_size == 65544


def test_slot_size_is_rounded_up_to_whole_words():
    with seqflow.Queue(maxsize=4, slot_size=100) as q:
        assert q.slot_size == 104 and q.metrics()["slot_size"] == 104
        q.put(b"w" * 104)
        assert q.get(timeout=5) == b"w" * 104
        with pytest.raises(ValueError, match=r"105 bytes.*104 bytes"):
            q.put(b"w" * 105)
    with seqflow.Queue(maxsize=4, slot_size=1) as q:
        assert q.slot_size == 8


@pytest.mark.parametrize("size", [0, -1, -(2**70), seqflow.MAX_SLOT_SIZE + 1, 2**40, 2**70])
def test_slot_size_out_of_range_is_a_value_error(size):
    assert seqflow.MAX_SLOT_SIZE == (1 << 30) - 8
    with pytest.raises(ValueError, match="slot_size"):
        seqflow.Queue(maxsize=4, slot_size=size)
    with pytest.raises(ValueError, match="slot_size"):
        seqflow.Ring(capacity=4, slot_size=size)


def test_largest_slot_size_is_accepted():
    # 1 GiB slots: the segment is sparse, only the pages written take memory.
    with seqflow.Queue(maxsize=1, slot_size=seqflow.MAX_SLOT_SIZE) as q:
        assert q.slot_size == seqflow.MAX_SLOT_SIZE
        q.put(b"tiny")
        assert q.get(timeout=5) == b"tiny"


def test_open_by_name_takes_the_slot_size_of_the_segment():
    name = "/seqflow-test-open-size-%d" % os.getpid()
    with seqflow.Queue(maxsize=4, slot_size=3001, name=name) as q:
        try:
            other = seqflow.Queue.open(name)
            assert other.slot_size == q.slot_size == 3008
            other.put(b"o" * 3008)
            assert q.get(timeout=5) == b"o" * 3008
            with pytest.raises(ValueError, match="3008 bytes"):
                other.put(b"o" * 3009)
            with pytest.raises(seqflow.SegmentMismatch) as e:
                seqflow.Ring.open(name)  # a queue's segment is not a ring's
            # ... and the message says what to do instead, not fingerprints and Rust types.
            assert str(e.value) == (
                "segment '%s' was created by a seqflow Queue (pickled items), not a Ring; "
                'open it with seqflow.Queue.open("%s")' % (name, name)
            )
        finally:
            q.unlink()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_one_mib_slots_across_processes(method):
    np = pytest.importorskip("numpy")
    ctx = mp.get_context(method)
    big = os.urandom(1 << 20)
    arr = np.arange((1 << 17) - 64, dtype=np.float64) * 1.5  # about 1 MiB once pickled
    assert len(pickle.dumps(arr, -1)) <= 1 << 20
    with seqflow.Queue(maxsize=4, slot_size=1 << 20) as there, \
            seqflow.Queue(maxsize=4, slot_size=1 << 20) as back:
        assert there.slot_size == 1 << 20
        with pytest.raises(ValueError, match=r"1048577 bytes.*1048576 bytes"):
            there.put(big + b"!")
        p = ctx.Process(target=helpers.echo, args=(there, back, 3))
        p.start()
        there.put(big, timeout=JOIN)
        there.put_many([arr, bytearray(big[:1000])], timeout=JOIN)
        assert back.get(timeout=JOIN) == big
        got = back.get(timeout=JOIN)
        assert got.dtype == arr.dtype and np.array_equal(got, arr)
        assert back.get(timeout=JOIN) == bytearray(big[:1000])
        join_all([p])
        assert p.exitcode == 0


def test_metrics_count_what_went_through():
    with seqflow.Queue(maxsize=8, slot_size=16) as q:
        m = q.metrics()
        assert (m["qsize"], m["put"], m["got"], m["maxsize"], m["lost"]) == (0, 0, 0, 8, 0)
        q.put_many([b"a", b"b", b"c"])
        q.get()
        m = q.metrics()
        assert (m["qsize"], m["put"], m["got"], m["utilisation"]) == (2, 3, 1, 0.25)
        assert m["consumers"] == 1 and m["producers"] == 1 and m["ended_at"] is None


def test_end_stream_drains_then_raises_closed():
    with seqflow.Queue(maxsize=8, slot_size=16) as q:
        q.put_many([b"a", b"b"])
        assert q.ended_at is None
        assert q.end_stream() == 1 and q.ended_at == 1
        with pytest.raises(seqflow.Closed):
            q.put(b"c")
        assert q.get_many(8, timeout=5) == [b"a", b"b"]
        with pytest.raises(seqflow.Closed) as e:
            q.get(timeout=5)
        assert e.value.end == 1


def test_ended_queue_says_so_in_queue_terms():
    # A Queue user hears of the queue and `end_stream`, not of rings and sequences.
    with seqflow.Queue(maxsize=8, slot_size=16) as q:
        q.put(b"a")
        q.end_stream()
        for put in (lambda: q.put(b"late"), lambda: q.put_many([b"x", b"y"])):
            with pytest.raises(seqflow.Closed) as e:
                put()
            message = str(e.value)
            assert message == "queue '%s' is closed (end_stream was called): no more items can be put" % q.name
            assert e.value.end is None
        assert q.get(timeout=5) == b"a"
        for get in (lambda: q.get(timeout=5), lambda: q.get_many(4, timeout=5), q.get_nowait):
            with pytest.raises(seqflow.Closed) as e:
                get()
            message = str(e.value)
            assert message.startswith("queue '%s' is closed (end_stream was called): " % q.name)
            assert "no more will come" in message
            assert "ring" not in message and "sequence" not in message
            assert e.value.end == 0


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_batched_consumers_take_each_item_once(method):
    ctx = mp.get_context(method)
    q = seqflow.Queue(maxsize=64, slot_size=16)
    results = ctx.Queue()
    consumers = [ctx.Process(target=helpers.get_many_until_closed, args=(q, m, results)) for m in (7, 50)]
    producers = [ctx.Process(target=helpers.put_many_batches, args=(q, k * 100000, 3000, b)) for k, b in ((0, 13), (1, 40))]
    for p in consumers + producers:
        p.start()
    join_all(producers)
    q.end_stream()
    got = [results.get(timeout=JOIN) for _ in consumers]
    join_all(consumers)
    flat = sorted(x for g in got for x in g)
    assert flat == sorted(list(range(3000)) + list(range(100000, 103000)))
    for g in got:  # each producer's items reach each consumer in order
        for base in (0, 100000):
            mine = [x for x in g if base <= x < base + 100000]
            assert mine == sorted(mine)
    q.close()


def test_namespaces_keep_runs_apart():
    run = "pytest-%d" % os.getpid()
    assert seqflow.namespaced(run, "jobs") == "/%s:jobs" % run
    with pytest.raises(ValueError):
        seqflow.namespaced("a/b", "jobs")
    with seqflow.Queue(maxsize=4, name="jobs", namespace=run) as a, \
            seqflow.Queue(maxsize=4, name="jobs", namespace=run + "-other") as b:
        try:
            assert a.name == "/%s:jobs" % run
            a.put(b"mine")
            b.put(b"theirs")
            same = seqflow.Queue.open("jobs", namespace=run)
            assert same.get(timeout=5) == b"mine"
            assert b.get(timeout=5) == b"theirs"
            r = seqflow.Ring("ticks", capacity=4, slot_size=16, namespace=run)
            assert seqflow.Ring.open("ticks", namespace=run).name == "/%s:ticks" % run
            r.unlink()
        finally:
            a.unlink()
            b.unlink()


def _boom():
    raise ValueError("boom while unpickling")


class Bomb:
    """Pickles fine, fails to unpickle."""

    def __reduce__(self):
        return (_boom, ())


def test_negative_counts_are_value_errors():
    with seqflow.Queue(maxsize=8, slot_size=64) as q:
        with pytest.raises(ValueError, match="max_items"):
            q.get_many(-1)
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        with pytest.raises(ValueError, match="cannot claim -1"):
            r.claim(-1)


def test_get_many_keeps_the_rest_when_one_item_fails_to_decode():
    with seqflow.Queue(maxsize=8, slot_size=64) as q:
        q.put_many([b"a", Bomb(), b"c", {"d": 4}])
        with pytest.raises(ValueError, match="boom"):
            q.get_many(8, timeout=5)
        # The kept items count as queued for this process.
        assert q.qsize() == 3 and not q.empty()
        assert q.get(timeout=5) == b"a"  # kept, in order
        assert q.qsize() == 2
        assert q.get_many(8, timeout=5) == [b"c", {"d": 4}]
        assert q.qsize() == 0 and q.empty()
        with pytest.raises(queue.Empty):
            q.get_nowait()


def _reader_holding(q, items):
    """A second handle of `q` whose get_many of `items` failed on a Bomb: it holds the rest."""
    reader = seqflow.Queue.open(q.name)
    q.put_many(items)
    with pytest.raises(ValueError, match="boom"):
        reader.get_many(8, timeout=5)
    return reader


def test_items_kept_after_a_failed_get_many_go_back_at_close():
    with seqflow.Queue(maxsize=8, slot_size=64) as q:
        reader = _reader_holding(q, [b"a", Bomb(), b"c", {"d": 4}])
        assert q.qsize() == 0  # kept by the reader's handle: not in the queue
        reader.close()
        # Back at the queue's end, for any process: nothing lost with the reader.
        assert q.get_many(8, timeout=5) == [b"a", b"c", {"d": 4}]


def _close_then_boom(name):
    _TO_CLOSE[name].close()
    raise ValueError("boom after closing the reading handle")


_TO_CLOSE = {}


class CloseThenBomb:
    """Unpickling closes the handle that is reading it, then fails."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return (_close_then_boom, (self.name,))


def _slow_boom():
    time.sleep(0.5)
    raise ValueError("slow boom")


class SlowBomb:
    def __reduce__(self):
        return (_slow_boom, ())


def test_items_kept_by_a_collected_handle_go_back():
    with seqflow.Queue(maxsize=8, slot_size=64) as q:
        reader = _reader_holding(q, [b"a", Bomb(), b"c"])
        del reader
        gc.collect()
        assert q.get_many(8, timeout=5) == [b"a", b"c"]


def test_a_handle_closed_while_its_get_many_decodes_hands_the_rest_back():
    with seqflow.Queue(maxsize=8, slot_size=256) as q:
        reader = seqflow.Queue.open(q.name)
        _TO_CLOSE[q.name] = reader
        try:
            q.put_many([b"a", CloseThenBomb(q.name), b"c"])
            with pytest.raises(ValueError, match="boom after closing"):
                reader.get_many(8, timeout=5)
        finally:
            del _TO_CLOSE[q.name]
        assert q.get_many(8, timeout=5) == [b"a", b"c"]


def test_a_failed_get_many_does_not_wait_for_a_get_blocked_on_the_same_handle():
    with seqflow.Queue(maxsize=8, slot_size=64) as q:
        q.put_many([b"a", SlowBomb(), b"c"])
        got = []
        blocked = threading.Thread(target=lambda: got.append(q.get(timeout=JOIN)))
        failed = []

        def take_batch():
            try:
                q.get_many(8, timeout=5)
            except ValueError as e:
                failed.append(e)

        batch = threading.Thread(target=take_batch)
        batch.start()
        time.sleep(0.1)  # the batch is decoding (0.5 s) when the other get starts waiting
        blocked.start()
        batch.join(JOIN)
        blocked.join(JOIN)
        assert failed and not batch.is_alive() and not blocked.is_alive()
        # The two kept items went back to the queue: the blocked get took one.
        rest = q.get_many(8, timeout=5)
        assert sorted(got + rest) == [b"a", b"c"]


def test_closing_after_the_stream_ended_warns_and_still_closes():
    with seqflow.Queue(maxsize=8, slot_size=64) as q:
        reader = _reader_holding(q, [b"a", Bomb(), b"c"])
        q.end_stream()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(RuntimeWarning, match="2 item"):
                reader.close()
        with pytest.raises(ValueError, match="closed"):
            reader.qsize()


def test_ctrl_c_while_close_hands_items_back_is_raised():
    with seqflow.Queue(maxsize=4, slot_size=64) as q:
        reader = _reader_holding(q, [b"a", Bomb(), b"c"])
        q.put_many([b"1", b"2", b"3", b"4"])  # full: the hand-back waits for room
        timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.warns(RuntimeWarning, match="KeyboardInterrupt"):
                with pytest.raises(KeyboardInterrupt):
                    reader.close()
        finally:
            timer.cancel()
        with pytest.raises(ValueError, match="closed"):
            reader.qsize()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_items_kept_after_a_failed_get_many_go_back_at_exit(method):
    ctx = mp.get_context(method)
    with seqflow.Queue(maxsize=8, slot_size=64) as q:
        q.put_many([b"a", Bomb(), b"c"])
        done = ctx.Queue()
        child = ctx.Process(target=helpers.get_many_that_fails_then_exit, args=(q, done))
        child.start()
        assert done.get(timeout=JOIN) == "failed as expected"
        child.join(JOIN)
        assert child.exitcode == 0
        assert q.get_many(8, timeout=5) == [b"a", b"c"]


def test_closed_queue_refuses():
    q = seqflow.Queue(maxsize=4)
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.put(1)


def test_pickled_handle_opens_by_name():
    with seqflow.Queue(maxsize=8) as q:
        other = pickle.loads(pickle.dumps(q))
        assert other.name == q.name
        other.put("via pickle")
        assert q.get(timeout=5) == "via pickle"
        named = seqflow.Queue.open(q.name)
        named.put(1)
        assert q.get(timeout=5) == 1


def test_generated_looking_names_and_huge_maxsize_are_refused():
    # A chosen name that looks generated would be removed as a leftover by another process once
    # its creator exits, items and all.
    with pytest.raises(ValueError, match="reserved"):
        seqflow.Queue(maxsize=8, name="/seqflow-py-123-0-deadbeef")
    with pytest.raises(ValueError, match="reserved"):
        seqflow.Ring("seqflow-py-ring-1-ab", capacity=8, slot_size=8)
    with pytest.raises(ValueError, match="maxsize .* too large: at most"):
        seqflow.Queue(maxsize=2**40)


def test_put_many_names_the_oversized_item_and_puts_nothing():
    q = seqflow.Queue(maxsize=8, slot_size=16)
    with pytest.raises(ValueError, match="put_many item 2: .*does not fit"):
        q.put_many([b"a", b"b", b"x" * 100, b"c"])
    assert q.qsize() == 0
    q.close()


def test_open_missing_name():
    with pytest.raises(seqflow.SegmentNotFound):
        seqflow.Queue.open("/seqflow-test-no-such-queue", timeout=0.1)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_many_producers_many_consumers_exactly_once(method):
    ctx = mp.get_context(method)
    q = seqflow.Queue(maxsize=64, slot_size=64)
    results = ctx.Queue()
    consumers = [ctx.Process(target=helpers.consume_until_sentinel, args=(q, results)) for _ in range(2)]
    producers = [ctx.Process(target=helpers.produce, args=(q, k * 1000, 300)) for k in range(2)]
    for p in consumers + producers:
        p.start()
    join_all(producers)
    for _ in consumers:
        q.put(None)
    got = [results.get(timeout=JOIN) for _ in consumers]
    join_all(consumers)
    flat = sorted(x for g in got for x in g)
    assert flat == sorted(list(range(300)) + list(range(1000, 1300)))
    for g in got:  # per-producer order is kept within each consumer
        for base in (0, 1000):
            mine = [x for x in g if base <= x < base + 1000]
            assert mine == sorted(mine)
    q.close()


def test_late_consumer_gets_everything():
    ctx = mp.get_context("fork")
    q = seqflow.Queue(maxsize=16, slot_size=64)
    for i in range(16):
        q.put(i)
    with pytest.raises(queue.Full):
        q.put(99, timeout=0.05)
    results = ctx.Queue()
    p = ctx.Process(target=lambda: results.put(helpers.drain(q, 20)))
    p.start()
    for i in range(16, 20):
        q.put(i, timeout=JOIN)
    assert results.get(timeout=JOIN) == list(range(20))
    join_all([p])
    q.close()


def test_sigkill_of_consumer_does_not_stall_producer():
    ctx = mp.get_context("fork")
    q = seqflow.Queue(maxsize=8, slot_size=64)
    q.put(-1)
    ready = ctx.Event()
    child = ctx.Process(target=helpers.take_one_then_hang, args=(q, ready))
    child.start()
    assert ready.wait(JOIN)
    os.kill(child.pid, signal.SIGKILL)
    child.join(JOIN)
    for i in range(100):  # well past capacity: the dead worker's gate must be released
        q.put(i, timeout=JOIN)
        assert q.get(timeout=JOIN) == i
    q.close()


def test_sigkill_of_idle_worker_loses_nothing():
    ctx = mp.get_context("fork")
    q = seqflow.Queue(maxsize=8, slot_size=64)
    ready = ctx.Event()
    idle = ctx.Process(target=helpers.block_in_get, args=(q, ready))
    idle.start()
    assert ready.wait(JOIN)
    results = ctx.Queue()
    survivor = ctx.Process(target=helpers.consume_until_sentinel, args=(q, results))
    survivor.start()
    os.kill(idle.pid, signal.SIGKILL)
    idle.join(JOIN)
    for i in range(50):
        q.put(i, timeout=JOIN)
    q.put(None, timeout=JOIN)
    got = results.get(timeout=JOIN)
    join_all([survivor])
    # The idle worker was killed while blocked in get, before anything was put: it held no
    # claim, so nothing is missing and nothing is duplicated.
    assert sorted(got) == list(range(50))
    q.close()


def test_consumer_busy_with_its_item_does_not_hold_the_queue_back():
    # A process takes one item and works on it (here: sleeps) without calling get again; the
    # other consumer keeps taking items, so the producer must go far past maxsize meanwhile.
    ctx = mp.get_context("fork")
    q = seqflow.Queue(maxsize=8, slot_size=64)
    ready = ctx.Event()
    q.put("first")
    busy = ctx.Process(target=helpers.take_one_then_hang, args=(q, ready))
    busy.start()
    assert ready.wait(JOIN)
    results = ctx.Queue()
    other = ctx.Process(target=helpers.consume_until_sentinel, args=(q, results))
    other.start()
    for i in range(200):
        # Not bounded by the busy process: it holds nothing (its item was copied out).
        q.put(i, timeout=10)
    q.put(None, timeout=10)
    assert results.get(timeout=JOIN) == list(range(200))
    join_all([other])
    busy.kill()
    busy.join(JOIN)
    q.close()


def test_every_consumer_busy_leaves_maxsize_for_the_producer():
    # Both consumers took items and work on them; nobody calls get: the producer still has room
    # for maxsize items (it raises the idle consumers' places itself when it finds the ring full).
    ctx = mp.get_context("fork")
    q = seqflow.Queue(maxsize=8, slot_size=64)
    for i in range(4):
        q.put(i)
    r1, r2 = ctx.Queue(), ctx.Queue()
    a = ctx.Process(target=helpers.take_many_then_hang, args=(q, r1, 2))
    a.start()
    got_a = r1.get(timeout=JOIN)
    b = ctx.Process(target=helpers.take_many_then_hang, args=(q, r2, 2))
    b.start()
    got_b = r2.get(timeout=JOIN)
    assert sorted(got_a + got_b) == [0, 1, 2, 3]
    for i in range(8):
        q.put(4 + i, timeout=10)
    assert q.qsize() == 8
    with pytest.raises(queue.Full):
        q.put(99, timeout=0.05)
    for p in (a, b):
        p.kill()
        p.join(JOIN)
    assert [q.get(timeout=JOIN) for _ in range(8)] == list(range(4, 12))
    q.close()


def test_ctrl_c_interrupts_blocking_get():
    ctx = mp.get_context("fork")
    q = seqflow.Queue(maxsize=4)
    ready = ctx.Event()
    p = ctx.Process(target=helpers.wait_for_sigint, args=(q, ready, 42))
    p.start()
    assert ready.wait(JOIN)
    import time

    time.sleep(0.2)  # let it enter the wait (not asserted)
    os.kill(p.pid, signal.SIGINT)
    p.join(JOIN)
    assert p.exitcode == 42
    q.close()


def test_blocking_get_releases_the_gil():
    with seqflow.Queue(maxsize=4) as q:
        out = []
        t = threading.Thread(target=lambda: out.append(q.get(timeout=JOIN)))
        t.start()
        spins = 0
        while t.is_alive() and spins < 1000:  # the main thread runs while the other waits
            spins += 1
        q.put("wake")
        t.join(JOIN)
        assert out == ["wake"] and spins > 0


def _blocked_in(q, method):
    """Start a thread blocked in `q.<method>` (no timeout); returns the thread and what it
    raised (filled when it ends)."""
    raised = []

    def run():
        try:
            getattr(q, method)()
        except Exception as e:  # noqa: BLE001 - the test looks at what it was
            raised.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    import time

    time.sleep(0.3)  # let it enter the wait (not asserted)
    return t, raised


def test_close_while_a_get_blocks_wakes_it():
    q = seqflow.Queue(maxsize=2, slot_size=16)
    t, raised = _blocked_in(q, "get")
    q.close()  # returns (it waits for the blocked call with the GIL released)
    t.join(JOIN)
    assert not t.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], ValueError), raised


def test_close_while_a_put_blocks_on_a_full_queue():
    q = seqflow.Queue(maxsize=2, slot_size=16)
    q.put_nowait(1)
    q.put_nowait(2)
    raised = []

    def run():
        try:
            q.put(3)
        except Exception as e:  # noqa: BLE001
            raised.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    import time

    time.sleep(0.3)
    q.close()
    t.join(JOIN)
    assert not t.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], ValueError), raised


def test_timeouts_hold_while_another_thread_of_the_process_blocks():
    with seqflow.Queue(maxsize=2, slot_size=64) as q:
        t, _ = _blocked_in(q, "get")
        with pytest.raises(queue.Empty):
            q.get_nowait()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.2)
        with pytest.raises(queue.Empty):
            q.get_many(4, timeout=0.2)
        q.put("wake")  # the blocked get takes it
        t.join(JOIN)
        q.put_nowait(1)
        q.put_nowait(2)
        blocked_put = threading.Thread(target=lambda: q.put(3), daemon=True)
        blocked_put.start()
        import time

        time.sleep(0.3)
        with pytest.raises(queue.Full):
            q.put_nowait(4)
        with pytest.raises(queue.Full):
            q.put(4, timeout=0.2)
        assert q.get(timeout=JOIN) == 1  # room: the blocked put goes in
        blocked_put.join(JOIN)
        assert not blocked_put.is_alive()
