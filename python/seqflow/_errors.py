"""Exceptions raised by seqflow (the native module raises these classes)."""


class SeqflowError(Exception):
    """Base class of seqflow's own errors."""


class SegmentError(SeqflowError, OSError):
    """A shared-memory segment could not be created, opened or attached to."""


class SegmentNotFound(SegmentError, FileNotFoundError):
    """No segment of that name exists (or it was removed while being opened)."""


class SegmentExists(SegmentError, FileExistsError):
    """A segment of that name exists already (live, or stale from a crashed run)."""


class SegmentMismatch(SegmentError):
    """The segment is not what was expected: not seqflow, another version, another slot type."""


class Halted(SeqflowError):
    """The ring was halted in this process (`Ring.halt()`)."""


class Closed(SeqflowError):
    """The stream was ended (``Ring.end_stream()`` / ``Queue.end_stream()``, in any process).

    Raised to a producer that publishes after the end (``end`` is then ``None``), and to a
    consumer, worker or ``get`` once everything up to the last sequence ``end`` is consumed:
    nothing more will come. Iterating a consumer, subscriber or worker stops there.
    """

    def __init__(self, message: str, end=None) -> None:
        super().__init__(message)
        self.end = end


class UpstreamGone(SeqflowError):
    """A stage this consumer runs after died or unregistered: its sequence will not move."""


class Lapped(SeqflowError):
    """A lossy subscriber was overtaken: `missed` events were overwritten before it read them.

    It resumes at `resume_at` (the oldest event still in the ring): call `next()` again.
    """

    def __init__(self, message: str, missed: int = 0, resume_at: int = 0) -> None:
        super().__init__(message)
        self.missed = missed
        self.resume_at = resume_at


class ProducerDied(SeqflowError):
    """A producer process died between claiming and publishing.

    `start`..`end` (when known) are the sequences it had claimed: their slots hold stale data
    and should be skipped. Reported once; waiting again goes on.
    """

    def __init__(self, message: str, pid: int = 0, seq: int = 0, start=None, end=None) -> None:
        super().__init__(message)
        self.pid = pid
        self.seq = seq
        self.start = start
        self.end = end
