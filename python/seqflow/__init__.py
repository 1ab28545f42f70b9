"""seqflow: Disruptor-style shared-memory rings for Python.

- :class:`Queue`: a drop-in for :class:`multiprocessing.Queue` across processes, over a named
  shared-memory ring of byte slots (bytes and bytearrays are not pickled).
- :class:`Ring`: the Disruptor model -- producers that publish or claim slots, named gating
  consumers with ``after=[...]`` dependencies, lossy subscribers, worker pools -- with zero-copy
  ``memoryview`` (or numpy) access to slots.

Every blocking call releases the GIL and is interrupted by Ctrl-C (``KeyboardInterrupt``) within
about 50 ms. Linux only (POSIX shared memory, futexes, OFD locks). See docs/python.md.
"""

from ._errors import (
    Closed,
    Halted,
    Lapped,
    ProducerDied,
    SegmentError,
    SegmentExists,
    SegmentMismatch,
    SegmentNotFound,
    SeqflowError,
    UpstreamGone,
)
import atexit as _atexit

from ._seqflow import DECLARED_POOLS, MAX_SLOT_SIZE, Queue, namespaced
from ._seqflow import _at_exit
from ._ring import Claim, Consumer, Producer, Ring, Subscriber, Worker

# Unnamed rings and queues still referenced at exit (by a daemon thread, say) are not always
# collected: their names are removed here so their segments do not outlive the process. Waits
# for a queue side held by a thread parked at exit give up from here on instead of hanging.
_atexit.register(_at_exit)

__all__ = [
    "Queue",
    "Ring",
    "Producer",
    "Claim",
    "Consumer",
    "Subscriber",
    "Worker",
    "SeqflowError",
    "SegmentError",
    "SegmentNotFound",
    "SegmentExists",
    "SegmentMismatch",
    "Halted",
    "Closed",
    "Lapped",
    "ProducerDied",
    "UpstreamGone",
    "namespaced",
    "MAX_SLOT_SIZE",
    "DECLARED_POOLS",
]
