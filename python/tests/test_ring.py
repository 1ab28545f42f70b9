"""seqflow.Ring: the Disruptor model from Python."""
import multiprocessing as mp
import os
import signal
import time

import pytest

import seqflow
import helpers
from helpers import JOIN


def test_publish_wait_get_update():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        c = r.consumer("journal")
        seq = r.publish(b"hello")
        assert seq == 0
        assert c.wait_for(0, timeout=5) == 0
        view = c.get(0)
        assert bytes(view) == b"hello" and view.readonly
        assert c.get_bytes(0) == b"hello"
        with pytest.raises(ValueError):
            c.update_sequence(5)  # not waited for: the same contract as in Rust
        c.update_sequence(0)
        with pytest.raises(ValueError):
            view[0]  # released by update_sequence
        with pytest.raises(ValueError):
            c.get(0)  # no longer available to this consumer


def test_claim_writes_in_place():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        c = r.consumer("c")
        with r.claim(3) as views:
            for i, v in enumerate(views):
                v[:2] = b"%02d" % i
        hi = c.wait_for(0, timeout=5)
        assert hi == 2
        assert [c.get_bytes(s)[:2] for s in range(3)] == [b"00", b"01", b"02"]


def test_a_claim_entered_and_dropped_without_exit_is_published():
    import gc

    with seqflow.Ring(capacity=8, slot_size=16) as r:
        c = r.consumer("c")
        claim = r.claim(2)
        views = claim.__enter__()
        views[0][:1] = b"a"
        views[1][:1] = b"b"
        del views, claim
        gc.collect()
        # The producer goes on, and the consumer gets the dropped claim's slots.
        assert r.publish(b"c") == 2
        assert c.wait_for(0, timeout=5) == 2
        assert [c.get_bytes(s)[:1] for s in range(3)] == [b"a", b"b", b"c"]


def test_after_dependency():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        a = r.consumer("a")
        b = r.consumer("b", after=["a"])
        r.publish(b"x")
        a.wait_for(0, timeout=5)
        with pytest.raises(TimeoutError):
            b.wait_for(0, timeout=0.05)
        a.update_sequence(0)
        assert b.wait_for(0, timeout=5) == 0


def test_wait_for_timeout():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        with pytest.raises(TimeoutError):
            r.consumer("c").wait_for(0, timeout=0.05)


def test_full_ring_times_out_publish():
    with seqflow.Ring(capacity=2, slot_size=16) as r:
        slow = r.consumer("slow")  # noqa: F841 (held: it gates)
        r.publish(b"1")
        r.publish(b"2")
        with pytest.raises(TimeoutError):
            r.publish(b"3", timeout=0.05)


def test_lapped_subscriber():
    with seqflow.Ring(capacity=4, slot_size=16) as r:
        s = r.subscriber("clients")
        for i in range(10):
            r.publish(b"%d" % i)
        with pytest.raises(seqflow.Lapped) as e:
            s.next(timeout=5)
        assert (e.value.missed, e.value.resume_at) == (6, 6)
        assert s.next(timeout=5) == (6, b"6")


def test_end_stream_stops_iterators():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        c, w, s = r.consumer("c"), r.worker("p"), r.subscriber("s")
        for i in range(3):
            r.publish(b"%d" % i)
        assert r.end_stream() == 2 and r.ended_at == 2
        with pytest.raises(seqflow.Closed):
            r.publish(b"late")
        assert [bytes(v) for _, v in c] == [b"0", b"1", b"2"]
        assert [v for _, v in w] == [b"0", b"1", b"2"]
        assert [v for _, v in s] == [b"0", b"1", b"2"]


def test_halt_all_stops_a_consumer_in_another_process():
    ctx = mp.get_context("fork")
    r = seqflow.Ring(capacity=8, slot_size=16)
    results = ctx.Queue()
    p = ctx.Process(target=helpers.ring_consume, args=(r, 10**9, results))
    p.start()
    assert results.get(timeout=JOIN) == "ready"
    r.halt_all()
    p.join(JOIN)
    assert p.exitcode is not None and p.exitcode != 0  # its wait_for raised Halted
    with pytest.raises(seqflow.Halted):
        r.publish(b"late")
    r.close()


def test_large_slot_subscriber_consumer_worker():
    with seqflow.Ring(capacity=4, slot_size=1 << 20) as r:
        assert (r.slot_size, r._raw.event_size) == (1 << 20, (1 << 20) + 8)
        c, s, w = r.consumer("c"), r.subscriber("s"), r.worker("w")
        big = os.urandom(1 << 20)
        r.publish(big)
        assert s.next(timeout=5) == (0, big)
        assert w.process(timeout=5) == (0, big)
        c.wait_for(0, timeout=5)
        assert c.get_bytes(0) == big
        assert bytes(c.get(0)) == big
        c.update_sequence(0)
        with pytest.raises(ValueError, match=r"1048577 bytes.*1048576 bytes"):
            r.publish(big + b"!")


def test_ring_slot_size_rounding_and_open_by_name():
    name = "/seqflow-test-ring-size-%d" % os.getpid()
    with seqflow.Ring(name, capacity=4, slot_size=100) as r:
        try:
            assert r.slot_size == 104
            other = seqflow.Ring.open(name)
            assert other.slot_size == 104 and other.capacity == 4
            c = r.consumer("c")
            other.publish(b"r" * 104)
            with pytest.raises(ValueError, match="105 bytes"):
                other.publish(b"r" * 105)
            c.wait_for(0, timeout=5)
            assert bytes(c.get(0)) == b"r" * 104
            with pytest.raises(seqflow.SegmentMismatch) as e:
                seqflow.Queue.open(name)  # a ring's segment is not a queue's
            # ... and the message says what to do instead, not fingerprints and Rust types.
            assert str(e.value) == (
                "segment '%s' was created by a seqflow Ring (raw byte slots), not a Queue; "
                'open it with seqflow.Ring.open("%s")' % (name, name)
            )
        finally:
            r.unlink()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_one_mib_slots_relayed_through_another_process(method):
    np = pytest.importorskip("numpy")
    ctx = mp.get_context(method)
    big = os.urandom(1 << 20)
    arr = np.arange(1 << 17, dtype=np.float64) * 0.5  # exactly 1 MiB
    with seqflow.Ring(capacity=4, slot_size=1 << 20) as there, \
            seqflow.Ring(capacity=4, slot_size=1 << 20) as back:
        home = back.consumer("home")
        results = ctx.Queue()
        p = ctx.Process(target=helpers.ring_relay, args=(there, back, 3, results))
        p.start()
        assert results.get(timeout=JOIN) == "ready"
        there.publish(big, timeout=JOIN)
        there.publish(arr, timeout=JOIN)  # its buffer, as bytes
        there.publish(b"small", timeout=JOIN)
        assert results.get(timeout=JOIN) == 3
        assert home.wait_for(2, timeout=JOIN) == 2
        assert home.get_bytes(0) == big
        got = np.frombuffer(home.get_bytes(1), dtype=np.float64)
        assert np.array_equal(got, arr)
        assert bytes(home.get(2)) == b"small"
        home.update_sequence(2)
        p.join(JOIN)
        assert p.exitcode == 0


def test_pool_workers_split_events():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        w1, w2 = r.worker("p"), r.worker("p")
        r.publish(b"a")
        r.publish(b"b")
        assert {w1.process(5)[1], w2.process(5)[1]} == {b"a", b"b"}


def test_numpy_dtype_records():
    np = pytest.importorskip("numpy")
    dt = np.dtype([("id", "<i8"), ("price", "<f8")])
    with seqflow.Ring(capacity=8, dtype=dt) as r:
        c = r.consumer("c")
        r.publish((7, 1.5))
        with r.claim(1) as recs:
            recs[0]["id"] = 8
            recs[0]["price"] = 2.5
        c.wait_for(1, timeout=5)
        rec = c.get(0)
        assert (int(rec["id"]), float(rec["price"])) == (7, 1.5)
        assert int(c.get_bytes(1)["id"]) == 8


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_consumer_in_child_process(method):
    ctx = mp.get_context(method)
    r = seqflow.Ring(capacity=16, slot_size=16)
    results = ctx.Queue()
    p = ctx.Process(target=helpers.ring_consume, args=(r, 100, results))
    p.start()
    assert results.get(timeout=JOIN) == "ready"
    for i in range(100):
        r.publish(b"%d" % i, timeout=JOIN)
    assert results.get(timeout=JOIN) == sum(range(100))
    p.join(JOIN)
    r.close()


def test_sigkill_of_gating_consumer_releases_producer():
    ctx = mp.get_context("fork")
    r = seqflow.Ring(capacity=4, slot_size=16)
    results = ctx.Queue()
    p = ctx.Process(target=helpers.ring_consume, args=(r, 10**9, results))
    p.start()
    assert results.get(timeout=JOIN) == "ready"
    os.kill(p.pid, signal.SIGSTOP)  # it holds the producer back ...
    r.publish(b"1", timeout=JOIN)
    os.kill(p.pid, signal.SIGKILL)  # ... until it dies
    p.join(JOIN)
    for i in range(20):
        r.publish(b"%d" % i, timeout=JOIN)
    r.close()


def test_sigkill_of_pool_worker_other_worker_goes_on():
    ctx = mp.get_context("fork")
    r = seqflow.Ring(capacity=4, slot_size=16)
    results = ctx.Queue()
    victim = ctx.Process(target=helpers.ring_worker, args=(r, results, b"stop"))
    victim.start()
    assert results.get(timeout=JOIN) == "ready"
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(JOIN)
    # A fresh results queue: the victim may die holding the old one's writer lock (its feeder
    # thread releases it after the parent has already read "ready"), which would block every
    # later writer. multiprocessing.Queue is not safe against SIGKILL; seqflow's queues are.
    results = ctx.Queue()
    survivor = ctx.Process(target=helpers.ring_worker, args=(r, results, b"stop"))
    survivor.start()
    assert results.get(timeout=20) == "ready"
    for i in range(30):
        r.publish(b"%d" % i, timeout=JOIN)
    r.publish(b"stop", timeout=JOIN)
    assert results.get(timeout=JOIN) == list(range(30))
    survivor.join(JOIN)
    r.close()


def test_object_dtype_is_refused():
    np = pytest.importorskip("numpy")
    for dt in [np.dtype(object), np.dtype([("id", "<i8"), ("obj", "O")])]:
        with pytest.raises(TypeError):
            seqflow.Ring(capacity=8, dtype=dt)


def test_bad_capacities_are_clear_errors():
    for bad in (0, 3, -1, 1000):
        with pytest.raises(ValueError, match="power of two"):
            seqflow.Ring(capacity=bad, slot_size=16)
    with pytest.raises(ValueError, match="at least 1"):
        seqflow.Ring(capacity=0, slot_size=16)
    with pytest.raises(ValueError, match=r"try 1024"):
        seqflow.Ring(capacity=1000, slot_size=16)
    with pytest.raises(TypeError, match="capacity must be an int"):
        seqflow.Ring(capacity="8", slot_size=16)


def test_after_unlink_and_a_new_ring_under_the_name_each_ring_keeps_its_own_slots():
    name = "/seqflow-test-unlinked-%d" % os.getpid()
    a = seqflow.Ring(name, capacity=8, slot_size=16)
    ac = a.consumer("c")
    a.unlink()
    b = seqflow.Ring(name, capacity=8, slot_size=16)
    try:
        bc = b.consumer("c")
        b.publish(b"B-data")
        with a.claim(1) as views:
            views[0][:6] = b"A-data"
        assert bc.wait_for(0, timeout=JOIN) == 0
        assert bytes(bc.get(0)[:6]) == b"B-data"
        assert ac.wait_for(0, timeout=JOIN) == 0
        assert bytes(ac.get(0)[:6]) == b"A-data"
    finally:
        b.unlink()


def test_a_forked_child_publishes_through_an_inherited_ring_the_parent_used():
    with seqflow.Ring(capacity=8, slot_size=16, multi_producer=True) as r:
        c = r.consumer("c")
        r.publish(b"parent")
        p = mp.get_context("fork").Process(target=helpers.publish_one, args=(r, b"child"))
        p.start()
        p.join(JOIN)
        assert p.exitcode == 0
        assert c.wait_for(1, timeout=JOIN) == 1
        assert sorted([c.get_bytes(0), c.get_bytes(1)]) == [b"child", b"parent"]


def test_a_bad_payload_length_is_refused_and_the_claim_still_published():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        c = r.consumer("c")
        for bad, error in ((-1, ValueError), (17, ValueError), (3.5, TypeError), ("x", TypeError)):
            claim = r.claim(1)
            with pytest.raises(error):
                with claim as views:
                    views[0][:2] = b"ok"
                    claim.set_len(0, bad)
        assert r.publish(b"after") == 4  # no claim left open
        assert c.wait_for(4, timeout=JOIN) == 4


def test_threads_with_their_own_producer_handles_publish_together():
    import threading

    with seqflow.Ring(capacity=4, slot_size=16, multi_producer=True) as r:
        c = r.consumer("c")
        errors = []

        def publish():
            try:
                mine = r.producer()  # a handle is for one thread at a time
                for k in range(50):
                    mine.publish(b"%d" % k, timeout=JOIN)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=publish) for _ in range(3)]
        for t in threads:
            t.start()
        seen = 0
        while seen < 150:
            hi = c.wait_for(seen, timeout=JOIN)
            seen = hi + 1
            c.update_sequence(hi)
        for t in threads:
            t.join(JOIN)
        assert errors == []


def test_publish_takes_bytes_like_objects_only():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        for bad in (5, 10**12, [104, 105]):
            with pytest.raises(TypeError):
                r.publish(bad)
        r.publish(bytearray(b"ok"))
        r.publish(memoryview(b"fine"))


def test_a_dtype_ring_refuses_bytes_of_another_length():
    np = pytest.importorskip("numpy")
    dt = np.dtype([("id", "<i8"), ("px", "<f8")])
    with seqflow.Ring(capacity=8, dtype=dt) as r:
        c = r.consumer("c")
        with pytest.raises(ValueError, match="16 bytes"):
            r.publish(b"abc")
        r.publish(np.array([(7, 1.5)], dtype=dt).tobytes())
        assert c.wait_for(0, timeout=JOIN) == 0
        assert tuple(c.get(0)) == (7, 1.5)


def test_after_takes_one_name_or_a_list_and_an_empty_name_is_refused():
    with seqflow.Ring(capacity=8, slot_size=16) as r:
        journal = r.consumer("journal")
        broadcast = r.consumer("broadcast", after="journal")
        r.publish(b"x")
        with pytest.raises(TimeoutError):
            broadcast.wait_for(0, timeout=0.01)  # it follows the journal
        journal.update_sequence(journal.wait_for(0, timeout=JOIN))
        assert broadcast.wait_for(0, timeout=JOIN) == 0
    with pytest.raises(ValueError, match="empty"):
        seqflow.Ring("", capacity=8, slot_size=16)


def test_a_forked_child_using_a_handle_a_parent_thread_waits_in_is_refused_not_blocked():
    import threading

    with seqflow.Ring(capacity=2, slot_size=16, multi_producer=True) as r:
        c = r.consumer("c")
        producer = r.producer()
        producer.publish(b"a")
        producer.publish(b"b")
        # Another thread now waits in publish on the full ring, inside the handle.
        waiting = threading.Thread(target=lambda: producer.publish(b"c", timeout=JOIN))
        waiting.start()
        time.sleep(0.2)
        p = mp.get_context("fork").Process(target=helpers.publish_through, args=(producer,))
        p.start()
        p.join(JOIN)
        # The child's inherited handle refuses at once (it did not hang on the parent's lock).
        assert p.exitcode == 0
        c.update_sequence(c.wait_for(1, timeout=JOIN))
        waiting.join(JOIN)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_declared_consumers_and_pools_get_what_was_published_before_they_attach(method):
    ctx = mp.get_context(method)
    name = "/seqflow-pytest-declared-%d-%s" % (os.getpid(), method)
    r = seqflow.Ring(name, capacity=16, slot_size=8, declared_consumers=["late"], declared_pools=["pool"])
    try:
        for i in range(10):
            r.publish(b"%d" % i)
        results = ctx.Queue()
        p = ctx.Process(target=helpers.read_declared, args=(r, results, "late", "pool", 10))
        p.start()
        got_c, got_w = results.get(timeout=JOIN)
        p.join(JOIN)
        assert p.exitcode == 0
        expected = [b"%d" % i for i in range(10)]
        assert [bytes(b[:len(e)]) for b, e in zip(got_c, expected)] == expected
        assert [bytes(b[:len(e)]) for b, e in zip(got_w, expected)] == expected
    finally:
        r.unlink()
        r.close()


def test_a_declared_consumer_that_never_comes_holds_the_ring_until_released():
    with seqflow.Ring(capacity=4, slot_size=8, declared_consumers=["ghost"]) as r:
        for i in range(4):
            r.publish(b"x")
        with pytest.raises(TimeoutError):
            r.publish(b"x", timeout=0.2)  # the ghost holds every event
        r.release_declared("ghost")
        r.publish(b"x", timeout=5)
        with pytest.raises(seqflow.SegmentError):
            r.release_declared("ghost")  # nothing dormant by that name any more
        with pytest.raises(ValueError):
            seqflow.Ring(capacity=4, slot_size=8, declared_consumers=["a", "a"])
