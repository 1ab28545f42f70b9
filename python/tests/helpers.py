"""Process bodies for the tests (module-level so that spawn children can import them)."""
import os
import queue
import signal
import time

import seqflow

JOIN = 60  # seconds: the upper bound of any child in these tests (never asserted as a duration)


def produce(q, start, count):
    for i in range(start, start + count):
        q.put(i, timeout=JOIN)


def produce_bytes(q, count):
    for i in range(count):
        q.put(b"%d" % i, timeout=JOIN)


def consume_until_sentinel(q, results):
    got = []
    while True:
        item = q.get(timeout=JOIN)
        if item is None:
            break
        got.append(item)
    results.put(got)


def take_one_then_hang(q, ready):
    q.get(timeout=JOIN)
    ready.set()
    time.sleep(JOIN)


def take_many_then_hang(q, results, n):
    results.put(q.get_many(n, timeout=JOIN))
    time.sleep(JOIN)


def block_in_get(q, ready):
    ready.set()
    q.get(timeout=JOIN)


def wait_for_sigint(q, ready, exit_code):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # Inside the try: a SIGINT that comes as soon as the parent is told is handled too.
        ready.set()
        q.get()  # blocks for ever: nothing is put
    except KeyboardInterrupt:
        os._exit(exit_code)
    os._exit(1)


def ring_consume(ring, count, results):
    c = ring.consumer("child")
    results.put("ready")
    total = 0
    seen = 0
    while seen < count:
        hi = c.wait_for(c.sequence + 1, timeout=JOIN)
        for seq in range(c.sequence + 1, hi + 1):
            total += int(bytes(c.get(seq)))
            seen += 1
        c.update_sequence(hi)
    results.put(total)


def ring_worker(ring, results, stop):
    w = ring.worker("pool")
    results.put("ready")
    got = []
    while True:
        seq, data = w.process(timeout=JOIN)
        if data == stop:
            break
        got.append(int(data))
    results.put(got)


def echo(q_in, q_out, count):
    """Take ``count`` items from ``q_in`` and put each into ``q_out``."""
    for _ in range(count):
        q_out.put(q_in.get(timeout=JOIN), timeout=JOIN)


def ring_relay(src, dst, count, results):
    """Copy ``count`` events of ring ``src`` into ring ``dst``: read through a zero-copy view
    of a gating consumer, write in place through a claim."""
    c = src.consumer("relay")
    p = dst.producer()
    results.put("ready")
    done = 0
    while done < count:
        hi = c.wait_for(c.sequence + 1, timeout=JOIN)
        for seq in range(c.sequence + 1, hi + 1):
            view = c.get(seq)
            claim = p.claim(1, timeout=JOIN)
            with claim as views:
                views[0][: len(view)] = view
                claim.set_len(0, len(view))
            done += 1
        c.update_sequence(hi)
    results.put(done)


def queue_get_pid(q, results):
    results.put((os.getpid(), q.get(timeout=JOIN)))


def drain(q, n):
    out = []
    for _ in range(n):
        out.append(q.get(timeout=JOIN))
    return out


def put_many_batches(q, start, count, batch):
    """Put ``start .. start+count`` as bytes in ``put_many`` batches, then nothing more."""
    for lo in range(start, start + count, batch):
        q.put_many([b"%d" % i for i in range(lo, min(lo + batch, start + count))], timeout=JOIN)


def get_many_until_closed(q, max_items, results):
    """Take with ``get_many`` until the stream is ended and drained; report every item."""
    got = []
    try:
        while True:
            got.extend(int(x) for x in q.get_many(max_items, timeout=JOIN))
    except seqflow.Closed:
        pass
    results.put(got)


def publish_one(r, payload):
    r.publish(payload, timeout=JOIN)


def publish_through(producer):
    try:
        producer.publish(b"child", timeout=1)
    except RuntimeError:
        return  # an inherited handle refuses, as documented
    raise SystemExit(3)


def read_declared(ring, results, consumer_name, pool_name, count):
    """Attach late (the parent published already) as a declared consumer and a declared pool's
    worker; report what each got."""
    c = ring.consumer(consumer_name)
    w = ring.worker(pool_name)
    got_c = []
    while len(got_c) < count:
        hi = c.wait_for(len(got_c), timeout=JOIN)
        for s in range(len(got_c), hi + 1):
            got_c.append(c.get_bytes(s))
        c.update_sequence(hi)
    got_w = [w.process(timeout=JOIN)[1] for _ in range(count)]
    results.put((got_c, got_w))


def get_many_that_fails_then_exit(q, done):
    """Take a batch whose second item fails to unpickle, then exit without taking the rest: the
    items kept for this process go back to the queue at exit."""
    try:
        q.get_many(8, timeout=JOIN)
    except ValueError:
        done.put("failed as expected")
        return
    done.put("the batch did not fail")
