"""Cross-process throughput: seqflow.Queue vs multiprocessing.Queue, faster-fifo, slick-queue-py.

One producer process, one consumer process, 64-byte bytes items; one at a time and batched.
The consumer times from its first item to its last; figures are items/s and, per row, the
ratio to multiprocessing.Queue measured in the same run. A benchmark, not a test.

    python python/bench/bench_queues.py [N]        (after python/test.sh, in target/pyvenv)
"""
import multiprocessing as mp
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
BATCH = 256
ITEM = b"x" * 64
# Distinct objects: a list of one object repeated would let pickle send it once per batch.
BATCH_ITEMS = [b"%064d" % i for i in range(BATCH)]
CTX = mp.get_context("fork")


def run(make, produce, consume, n=N):
    q = make()
    out = CTX.Queue()
    c = CTX.Process(target=lambda: out.put(consume(q, n)))
    c.start()
    time.sleep(0.2)
    p = CTX.Process(target=produce, args=(q, n))
    p.start()
    p.join(120)
    got, secs = out.get(timeout=120)
    c.join(120)
    return got, secs


def timed(fn):
    def consume(q, n):
        t0 = None
        got = 0
        for k in fn(q, n):
            if t0 is None:
                t0 = time.perf_counter()
            got += k
        return got, time.perf_counter() - t0
    return consume


# seqflow
def sf_make():
    import seqflow
    return seqflow.Queue(maxsize=8192, slot_size=64)


def sf_put(q, n):
    put = q.put
    for _ in range(n):
        put(ITEM)


@timed
def sf_get(q, n):
    get = q.get
    for _ in range(n):
        get()
        yield 1


def sf_put_many(q, n):
    batch = BATCH_ITEMS
    for _ in range(n // BATCH):
        q.put_many(batch)


@timed
def sf_get_many(q, n):
    left = n // BATCH * BATCH
    while left:
        k = len(q.get_many(min(left, 4096)))
        left -= k
        yield k


# multiprocessing.Queue
def mp_make():
    return CTX.Queue(maxsize=8192)


def mp_put(q, n):
    for _ in range(n):
        q.put(ITEM)


@timed
def mp_get(q, n):
    for _ in range(n):
        q.get()
        yield 1


def mp_put_batched(q, n):
    batch = BATCH_ITEMS
    for _ in range(n // BATCH):
        q.put(batch)


@timed
def mp_get_batched(q, n):
    for _ in range(n // BATCH):
        yield len(q.get())


# faster-fifo
def ff_make():
    import faster_fifo
    return faster_fifo.Queue(max_size_bytes=64 * 1024 * 1024)


def ff_put(q, n):
    for _ in range(n):
        q.put(ITEM, timeout=60)


@timed
def ff_get(q, n):
    for _ in range(n):
        q.get(timeout=60)
        yield 1


def ff_put_many(q, n):
    batch = BATCH_ITEMS
    for _ in range(n // BATCH):
        q.put_many(batch, timeout=60)


@timed
def ff_get_many(q, n):
    left = n // BATCH * BATCH
    while left:
        k = len(q.get_many(timeout=60, max_messages_to_get=min(left, 4096)))
        left -= k
        yield k


# slick-queue-py (lossy ring: a slow consumer is lapped; items received are reported)
_SLICK = {}


def sk_make():
    from slick_queue_py import SlickQueue
    name = "sfbench%d" % time.time_ns()
    q = SlickQueue(name=name, size=1 << 16, element_size=64)
    _SLICK["name"] = name
    return q


def sk_put(q, n):
    from slick_queue_py import SlickQueue
    w = SlickQueue(name=_SLICK["name"], element_size=64)
    for _ in range(n):
        i = w.reserve(1)
        w[i][:64] = ITEM
        w.publish(i)


@timed
def sk_get(q, n):
    from slick_queue_py import SlickQueue
    r = SlickQueue(name=_SLICK["name"], element_size=64)
    idx = r.initial_reading_index()
    got = 0
    deadline = time.time() + 10
    while got < n and time.time() < deadline:
        data, size, idx = r.read(idx)
        if data is not None:
            got += 1
            yield 1
        elif got and time.time() > deadline - 55 and False:
            break


CASES = [
    ("multiprocessing.Queue", "one at a time", mp_make, mp_put, mp_get),
    ("seqflow.Queue", "one at a time", sf_make, sf_put, sf_get),
    ("faster-fifo", "one at a time", ff_make, ff_put, ff_get),
    ("slick-queue-py", "one at a time", sk_make, sk_put, sk_get),
    ("multiprocessing.Queue", "batches of 256 (lists)", mp_make, mp_put_batched, mp_get_batched),
    ("seqflow.Queue", "put_many/get_many 256", sf_make, sf_put_many, sf_get_many),
    ("faster-fifo", "put_many/get_many 256", ff_make, ff_put_many, ff_get_many),
]


def main():
    base = {}
    print("N=%d items of 64 bytes, 1 producer + 1 consumer process (fork)" % N)
    print("| queue | mode | items/s | vs multiprocessing.Queue |")
    print("|---|---|---:|---:|")
    for name, mode, make, put, get in CASES:
        try:
            got, secs = run(make, put, get)
        except Exception as e:  # a peer that is not installed
            print("| %s | %s | failed: %s | |" % (name, mode, type(e).__name__))
            continue
        rate = got / secs if secs > 0 else float("inf")
        key = "one" if mode == "one at a time" else "batch"
        if name == "multiprocessing.Queue":
            base[key] = rate
        ratio = rate / base[key] if key in base else float("nan")
        extra = "" if got >= N // BATCH * BATCH else " (received %d)" % got
        print("| %s | %s | %.0f%s | %.1fx |" % (name, mode, rate, extra, ratio), flush=True)


if __name__ == "__main__":
    main()
