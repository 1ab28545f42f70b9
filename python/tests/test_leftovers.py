"""Unnamed rings and queues left in /dev/shm by a SIGKILLed process are removed by the next
process that makes an unnamed one; those still in use by a live process are kept."""
import os
import signal
import subprocess
import sys

import seqflow

KILLED = r"""
import os, signal, seqflow
ring = seqflow.Ring(capacity=8, slot_size=16)
queue = seqflow.Queue(maxsize=4)
print(ring.name, queue.name, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""

MAKE_ONE = r"""
import seqflow
seqflow.Ring(capacity=8, slot_size=16)
"""


def _path(name):
    return "/dev/shm/" + name.lstrip("/")


def test_leftovers_of_a_killed_process_are_removed_by_the_next_unnamed_ring():
    r = subprocess.run([sys.executable, "-c", KILLED], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr
    names = r.stdout.split()
    assert len(names) == 2
    assert all(os.path.exists(_path(n)) for n in names), "the kill left both behind"
    subprocess.run([sys.executable, "-c", MAKE_ONE], check=True, timeout=60)
    assert not any(os.path.exists(_path(n)) for n in names)


def test_a_leftover_still_attached_to_a_live_process_is_kept():
    r = subprocess.run([sys.executable, "-c", KILLED], capture_output=True, text=True, timeout=60)
    ring_name, queue_name = r.stdout.split()
    try:
        # This process attaches to the dead creator's ring: it is in use, so it stays.
        held = seqflow.Ring.open(ring_name)
        subprocess.run([sys.executable, "-c", MAKE_ONE], check=True, timeout=60)
        assert os.path.exists(_path(ring_name))
        assert not os.path.exists(_path(queue_name))
        held.close()
    finally:
        for n in (ring_name, queue_name):
            if os.path.exists(_path(n)):
                os.unlink(_path(n))
