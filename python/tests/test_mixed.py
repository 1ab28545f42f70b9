"""A Rust process and Python processes on one ring (python/examples/rust_peer.rs)."""
import os
import subprocess

import pytest

import seqflow

PEER = os.environ.get("SEQFLOW_RUST_PEER", "")
pytestmark = pytest.mark.skipif(not os.path.exists(PEER), reason="set SEQFLOW_RUST_PEER (python/test.sh does)")


def start(*args):
    p = subprocess.Popen([PEER, *args], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def finish(p):
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    return out.strip()


@pytest.mark.parametrize("slot_size", [64, 1 << 20])
def test_python_producer_rust_consumer_queue(slot_size):
    with seqflow.Queue(maxsize=16, slot_size=slot_size) as q:
        peer = start("queue-consume", q.name, "200")
        for i in range(200):
            q.put(b"%d" % i, timeout=60)
        assert finish(peer) == str(sum(range(200)))


def test_rust_producer_python_consumer_queue():
    with seqflow.Queue(maxsize=16, slot_size=64) as q:
        q.put(b"0")  # takes this handle's place in the pool first (queue semantics)
        assert q.get(timeout=60) == b"0"
        peer = start("queue-produce", q.name, "200")
        got = [q.get(timeout=60) for _ in range(200)]
        finish(peer)
        assert got == [b"%d" % i for i in range(200)]


@pytest.mark.parametrize("slot_size", [64, 100])
def test_python_ring_rust_gating_consumer(slot_size):
    with seqflow.Ring(capacity=16, slot_size=slot_size) as r:
        peer = start("ring-consume", r.name, "300")
        for i in range(300):
            r.publish(b"%d" % i, timeout=60)
        assert finish(peer) == str(sum(range(300)))
