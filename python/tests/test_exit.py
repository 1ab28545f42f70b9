"""A program whose daemon threads are still blocked in seqflow when it ends must exit normally.

Before Python 3.14 the interpreter ends such a thread with a forced unwind when it takes the GIL
back during finalization; that unwind used to reach pyo3's panic guard and abort the process
(exit status 134, "FATAL: exception not rethrown"). The threads now hang quietly instead.
"""
import os
import subprocess
import sys

# Every kind of blocking call, each in a daemon thread that is blocked when the main thread ends.
PROGRAM = r"""
import threading, time, seqflow

ring = seqflow.Ring(capacity=8, slot_size=16)
full = seqflow.Ring(capacity=2, slot_size=16)
slow = full.consumer("slow")  # kept: it holds the ring full
queue = seqflow.Queue(maxsize=4)
full_queue = seqflow.Queue(maxsize=1, slot_size=64)
full_queue.put("x")

def iterate():
    for _ in ring.consumer("reader"):
        pass

def publish_into_full():
    p = full.producer()
    while True:
        p.publish(b"e")

def get():
    queue.get()

def put_into_full():
    full_queue.put("y")

threads = [threading.Thread(target=t, daemon=True)
           for t in (iterate, publish_into_full, get, put_into_full)]
for t in threads:
    t.start()
time.sleep(0.3)
print(ring.name, full.name, queue.name, full_queue.name, flush=True)
print("main done", flush=True)
"""


# glibc writes its fatal messages to the terminal unless told to use stderr.
ENV = dict(os.environ, LIBC_FATAL_STDERR_="1")

# A queue closed by a finalizer at exit while a daemon thread is parked in its `get`, holding
# the queue's consumer side.
CLOSE_AT_EXIT = r"""
import threading, time, seqflow

class Holder:
    def __init__(self):
        self.q = seqflow.Queue(maxsize=4)
    def __del__(self):
        self.q.close()

h = Holder()
threading.Thread(target=h.q.get, daemon=True).start()
time.sleep(0.2)
print("main done", flush=True)
"""


def test_daemon_threads_blocked_at_exit_do_not_abort_the_process():
    # Each run reaches finalization while the four threads wake every 50 ms to check for
    # signals: before the fix, every run here aborted; three runs make a pass by chance unlikely.
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                           timeout=60, env=ENV)
        assert "main done" in r.stdout
        assert r.returncode == 0, (r.returncode, r.stderr)
        assert "FATAL" not in r.stderr, r.stderr
        # The threads still held the unnamed rings and queues: their names went at exit all
        # the same.
        names = r.stdout.split("\n")[0].split()
        assert len(names) == 4
        left = [n for n in names if os.path.exists("/dev/shm/" + n.lstrip("/"))]
        assert left == [], left


def test_closing_a_queue_at_exit_does_not_wait_for_a_parked_thread():
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", CLOSE_AT_EXIT], capture_output=True, text=True,
                           timeout=60, env=ENV)
        assert "main done" in r.stdout
        assert r.returncode == 0, (r.returncode, r.stderr)
