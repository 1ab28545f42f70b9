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
import multiprocessing.util as _mp_util

from ._seqflow import DECLARED_POOLS, MAX_SLOT_SIZE, Queue, namespaced
from ._seqflow import _at_exit, _hand_back_held
from ._ring import Claim, Consumer, Producer, Ring, Subscriber, Worker

# Unnamed rings and queues still referenced at exit (by a daemon thread, say) are not always
# collected: their names are removed here so their segments do not outlive the process. Waits
# for a queue side held by a thread parked at exit give up from here on instead of hanging.
_atexit.register(_at_exit)


class _ForkHook:
    """Kept alive by the module: the key of the after-fork callback below."""


_fork_hook = _ForkHook()


def _finalize_in_child(_hook):
    # A multiprocessing child started by fork ends with os._exit, skipping atexit: the items
    # its queues hold after a failed get_many are put back from its exit function instead.
    _mp_util.Finalize(None, _hand_back_held, exitpriority=100)


_mp_util.register_after_fork(_fork_hook, _finalize_in_child)

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
