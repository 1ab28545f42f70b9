"""Log then broadcast across processes: a producer process publishes events into a Ring; a
journal process (gating consumer) appends each to a file; a broadcast process (gating consumer
running after the journal) sends each journaled event to "clients" (here: counts them). The
broadcast stage may be slow: it never slows the journal, and the producer only up to capacity.

    python python/examples/log_then_broadcast.py [EVENTS]
"""
import multiprocessing as mp
import os
import sys
import tempfile

import seqflow


def journal(ring, path, n, ready):
    c = ring.consumer("journal")
    ready.put("journal")
    with open(path, "wb") as f:
        while c.sequence + 1 < n:
            hi = c.wait_for(c.sequence + 1, timeout=60)
            for seq in range(c.sequence + 1, hi + 1):
                f.write(bytes(c.get(seq)) + b"\n")  # zero-copy view, valid until update_sequence
            f.flush()
            c.update_sequence(hi)


def broadcast(ring, n, ready, out):
    c = ring.consumer("broadcast", after=["journal"])
    ready.put("broadcast")
    sent = 0
    while c.sequence + 1 < n:
        hi = c.wait_for(c.sequence + 1, timeout=60)
        sent += hi - c.sequence
        c.update_sequence(hi)
    out.put(sent)


def produce(ring, n):
    p = ring.producer()
    for i in range(n):
        p.publish(b"event %d" % i, timeout=60)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    ctx = mp.get_context("spawn")
    ring = seqflow.Ring(capacity=1024, slot_size=64)
    path = os.path.join(tempfile.mkdtemp(), "journal.log")
    ready, out = ctx.Queue(), ctx.Queue()
    j = ctx.Process(target=journal, args=(ring, path, n, ready))
    j.start()
    ready.get(timeout=60)  # the broadcast stage runs after a live journal
    b = ctx.Process(target=broadcast, args=(ring, n, ready, out))
    b.start()
    ready.get(timeout=60)
    p = ctx.Process(target=produce, args=(ring, n))
    p.start()
    sent = out.get(timeout=120)
    for proc in (p, j, b):
        proc.join(60)
    lines = open(path, "rb").read().splitlines()
    assert lines == [b"event %d" % i for i in range(n)], "journal incomplete"
    assert sent == n
    print("journaled and broadcast %d events" % n)
    ring.close()


if __name__ == "__main__":
    main()
