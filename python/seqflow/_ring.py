"""`seqflow.Ring`: the Disruptor model over a named shared-memory ring.

The native module (`seqflow._seqflow`) does the sequencing and copies; this module adds
zero-copy access to slots. It maps the same segment a second time with Python's own
:mod:`mmap`, so every ``memoryview`` (or numpy view) handed out keeps that mapping alive: a view
can never point at unmapped memory. What a view may *see* follows the Disruptor contract:

- ``Consumer.get(seq)`` returns a read-only view of slot ``seq``. It is valid until the consumer
  calls ``update_sequence`` past ``seq`` (after that a producer may overwrite the slot).
  ``update_sequence`` releases every view it handed out (using one afterwards raises
  ``ValueError``). An object made from a view shares its memory and is not released with it:
  a numpy array (``np.frombuffer(view)``, ``np.asarray(view)``), ``memoryview(view)``, a cast,
  and the numpy records of dtype rings go on reading the slot after ``update_sequence``, when a
  producer may overwrite it. Copy what must outlive the consumer's position.
- ``Producer.claim(n)`` yields writable views of the claimed slots; they are released when the
  ``with`` block ends, which publishes the claim. The same holds: an array made from a claimed
  view still writes into the slot after the claim is published; finish writing in the block.

Use ``get_bytes`` (a copy) when an event must outlive the consumer's position.
"""

from __future__ import annotations

import mmap
import os
import struct
import weakref
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from . import _seqflow
from ._errors import Closed, Halted, SegmentMismatch

_EVENTS_OFFSET_FIELD = 128 + 7 * 8  # header "offsets" block: the 8th offset is the events region
_HEADER = 8  # bytes of a slot header (u32 length, u32 tag = kind) before the payload


# Every live Ring of this process: a forked child drops their default producers (the parent's),
# so that its first publish makes its own.
_RINGS: "weakref.WeakSet[Ring]" = weakref.WeakSet()


def _forget_producers() -> None:
    for ring in list(_RINGS):
        ring._producer = None


os.register_at_fork(after_in_child=_forget_producers)


def _generated_name() -> str:
    return "/seqflow-py-ring-%d-%s" % (os.getpid(), os.urandom(4).hex())


class _Mapping:
    """A Python mmap of the segment, for views. Lazily made; shared by a ring's handles."""

    def __init__(self, name: str, capacity: int, event_size: int, file_id: Optional[Tuple[int, int]]) -> None:
        path = "/dev/shm/" + name.lstrip("/")
        fd = os.open(path, os.O_RDWR)
        try:
            st = os.fstat(fd)
            if file_id is not None and (st.st_dev, st.st_ino) != tuple(file_id):
                # The name was unlinked and made anew: views would show another ring's slots.
                raise SegmentMismatch(
                    "segment %s was removed and replaced since this ring attached; "
                    "zero-copy views need the name (map before unlink(): any view, get or claim does)" % name
                )
            size = st.st_size
            self.mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        (self.events,) = struct.unpack_from("<Q", self.mm, _EVENTS_OFFSET_FIELD)
        self.capacity = capacity
        self.event_size = event_size
        if self.events + capacity * event_size > size:
            raise ValueError("segment %s: events region outside the file" % name)

    def offset(self, seq: int) -> int:
        return self.events + (seq & (self.capacity - 1)) * self.event_size + _HEADER


class Ring:
    """A ring of fixed-size slots in a named shared-memory segment.

    ``Ring(name=None, capacity=1024, slot_size=256, *, dtype=None, multi_producer=False)``
    creates the segment (``name=None``: a generated name, removed when this process closes the
    ring; ``namespace="run-1"``: the name lives in that run's namespace, see
    ``seqflow.namespaced``). ``Ring.open(name)`` attaches to an existing one (and takes its slot
    size from it). ``capacity`` is a power of two. ``slot_size`` is the payload bytes per slot:
    1 to ``seqflow.MAX_SLOT_SIZE`` (1 GiB - 8), rounded up to a multiple of 8 (``ValueError``
    otherwise); the segment takes ``capacity * (slot_size + 8)`` bytes of shared memory.
    With a numpy structured ``dtype``, slots hold one record each and ``get`` returns a numpy
    record view. Pass a ring to ``multiprocessing.Process``: forked children inherit it, spawned
    ones re-open it by name (pickling carries the name and dtype).

    ``declared_consumers=["journal"]`` / ``declared_pools=["resize"]`` hold every event for
    those consumers and pools from the first one on, attached or not: a consumer (or the first
    worker) that attaches late, in another process, still gets everything. Without them a
    consumer sees only what is published after it attaches.
    """

    def __init__(
        self,
        name: Optional[str] = None,
        capacity: int = 1024,
        slot_size: Optional[int] = None,
        *,
        dtype: Any = None,
        multi_producer: bool = False,
        max_consumers: int = 64,
        remove_stale: bool = False,
        namespace: Optional[str] = None,
        declared_consumers: Sequence[str] = (),
        declared_pools: Sequence[str] = (),
        _raw: Any = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError("capacity must be an int, not %s" % type(capacity).__name__)
        if capacity < 1:
            raise ValueError("capacity must be at least 1 (a power of two: 1, 2, 4, ...), not %d" % capacity)
        if capacity & (capacity - 1):
            raise ValueError(
                "capacity must be a power of two (1, 2, 4, ...), not %d (try %d)"
                % (capacity, 1 << capacity.bit_length())
            )
        self._dtype = None
        if dtype is not None:
            import numpy as np

            self._dtype = np.dtype(dtype)
            if self._dtype.hasobject:
                # Object fields are pointers into this process's heap: meaningless (and
                # dangerous to dereference) in any other process reading the slot.
                raise TypeError("dtype %r holds Python objects, which cannot live in shared memory" % (self._dtype,))
            if slot_size is None:
                slot_size = self._dtype.itemsize
            elif slot_size < self._dtype.itemsize:
                raise ValueError("slot_size %d < dtype itemsize %d" % (slot_size, self._dtype.itemsize))
        if _raw is None:
            if name == "":
                raise ValueError("a ring name cannot be empty (name=None makes one)")
            if name is not None and name.lstrip("/").startswith("seqflow-py-"):
                raise ValueError(
                    "ring names starting with 'seqflow-py-' are reserved for generated names "
                    "(whose segments are removed once their creator has exited): choose another name"
                )
            anonymous = name is None
            if anonymous:
                # What a killed process left under generated names goes first (once per process).
                _seqflow._reap_leftovers()
            full = name or _generated_name()
            if namespace is not None:
                full = _seqflow.namespaced(namespace, full)
            _raw = _seqflow._Ring.create(
                full,
                capacity,
                slot_size if slot_size is not None else 256,
                multi_producer,
                max_consumers=max_consumers,
                remove_stale=remove_stale,
                unlink_on_close=anonymous,
                declared_consumers=list(declared_consumers),
                declared_pools=list(declared_pools),
            )
        elif self._dtype is not None and self._dtype.itemsize > _raw.slot_size:
            raise ValueError("dtype itemsize %d > the ring's slot size %d" % (self._dtype.itemsize, _raw.slot_size))
        self._raw = _raw
        self._map: Optional[_Mapping] = None
        self._producer: Optional[Producer] = None
        _RINGS.add(self)
        # Mapped now, while the name is certainly this ring's: views keep working after
        # unlink(), and never show another segment made later under the same name.
        self._mapping()

    @classmethod
    def open(cls, name: str, *, dtype: Any = None, timeout: float = 5.0, namespace: Optional[str] = None) -> "Ring":
        """Attach to the ring ``name`` (in ``namespace``, if given), waiting up to ``timeout`` s
        for its creator."""
        if namespace is not None:
            name = _seqflow.namespaced(namespace, name)
        return cls(dtype=dtype, _raw=_seqflow._Ring.open(name, timeout))

    def __reduce__(self):
        return (_reopen, (self.name, self._dtype))

    @property
    def name(self) -> str:
        """The segment name."""
        return self._raw.name

    @property
    def capacity(self) -> int:
        """Slots in the ring."""
        return self._raw.capacity

    @property
    def slot_size(self) -> int:
        """Payload bytes per slot (the ``slot_size`` asked for, rounded up to a multiple of 8)."""
        return self._raw.slot_size

    @property
    def dtype(self):
        """The numpy dtype of the slots, or ``None`` for raw bytes."""
        return self._dtype

    @property
    def published(self) -> int:
        """The highest sequence up to which every event is published (-1: none)."""
        return self._raw.published

    def _mapping(self) -> _Mapping:
        if self._map is None:
            self._map = _Mapping(self._raw.name, self._raw.capacity, self._raw.event_size, self._raw.file_id)
        return self._map

    def _encode(self, data: Any) -> bytes:
        if self._dtype is not None:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                import numpy as np

                record = np.asarray(data, dtype=self._dtype)
                if record.shape != ():
                    raise ValueError(
                        "publish takes one record of this ring's dtype, not an array of shape %s"
                        % (record.shape,)
                    )
                return record.tobytes()
            if memoryview(data).nbytes != self._dtype.itemsize:
                raise ValueError(
                    "a record of this ring's dtype is %d bytes, not %d"
                    % (self._dtype.itemsize, memoryview(data).nbytes)
                )
        if isinstance(data, bytes):
            return data
        # Any bytes-like object; an int or a list is a TypeError (bytes(5) is five zero bytes).
        return memoryview(data).tobytes()

    def _decode(self, data: bytes) -> Any:
        if self._dtype is None:
            return data
        import numpy as np

        return np.frombuffer(data, dtype=self._dtype, count=1)[0]

    def producer(self) -> "Producer":
        """A producer handle (single producer rings: the only one across all processes)."""
        return Producer(self, self._raw.producer())

    def consumer(self, name: str, after: Sequence[str] = ()) -> "Consumer":
        """A gating consumer named ``name`` that runs after the live consumers in ``after``
        (a name or a list of names)."""
        if isinstance(after, str):
            after = [after]
        return Consumer(self, self._raw.consumer(name, list(after)))

    def subscriber(self, name: str) -> "Subscriber":
        """A lossy subscriber: never holds producers back; raises ``Lapped`` when overtaken."""
        return Subscriber(self, self._raw.subscriber(name))

    def worker(self, pool: str) -> "Worker":
        """A worker of pool ``pool``: each event goes to exactly one worker of the pool."""
        return Worker(self, self._raw.worker(pool))

    def _default_producer(self) -> "Producer":
        # A producer belongs to the process that made it: a forked child makes its own
        # (`_forget_producers` clears them after a fork).
        if self._producer is None:
            self._producer = self.producer()
        return self._producer

    def publish(self, data: Any, timeout: Optional[float] = None) -> int:
        """Publish one event through this ring object's own producer; returns its sequence."""
        return self._default_producer().publish(data, timeout)

    def claim(self, n: int = 1, timeout: Optional[float] = None) -> "Claim":
        """Claim ``n`` slots through this ring object's own producer (a context manager)."""
        return self._default_producer().claim(n, timeout)

    def halt(self) -> None:
        """Stop this process's waits on the ring (they raise ``Halted``)."""
        self._raw.halt()

    def halt_all(self) -> None:
        """Halt the ring in every process, for good: waits everywhere raise ``Halted``
        (iterators stop without draining) and publishes raise ``Halted``. ``seqflow inspect``
        shows who halted it; make a new ring to start again."""
        self._raw.halt_all()

    def unlink(self) -> None:
        """Remove the name now (attached processes keep working)."""
        self._raw.unlink()

    def release_declared(self, name: str) -> None:
        """Stop the declared consumer or pool ``name`` from holding events while nobody is
        attached as it (it will not come): producers no longer wait for it. ``SegmentError``
        if a live process is attached as it or nothing dormant has that name."""
        self._raw.release_declared(name)

    def end_stream(self) -> int:
        """End the stream for every process: later publishes raise ``Closed``; consumers,
        subscribers and workers get every event published before the end, then ``Closed``
        (their iterators stop). Returns the last sequence; ending twice keeps the first end.
        Call it once the producers are done (a publish racing with it in another process may
        land after the end, where nobody reads it)."""
        return self._raw.end_stream()

    @property
    def ended_at(self) -> Optional[int]:
        """The last sequence if the stream was ended (``end_stream``), else ``None``."""
        return self._raw.ended_at

    def close(self) -> None:
        """Drop this object's producer and, for an unnamed ring in its creator, the name."""
        self._producer = None
        self._raw.close()

    def inspect(self) -> str:
        """A table of the segment: cursor, consumers with their lag and liveness, producers."""
        return self._raw.inspect()

    def __enter__(self) -> "Ring":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "seqflow.Ring(name=%r, capacity=%d, slot_size=%d)" % (self.name, self.capacity, self.slot_size)


def _reopen(name: str, dtype: Any) -> Ring:
    return Ring.open(name, dtype=dtype)


class Producer:
    """Publishes events: ``publish`` copies, ``claim(n)`` gives writable views of the slots."""

    def __init__(self, ring: Ring, raw: Any) -> None:
        self._ring = ring
        self._raw = raw

    def publish(self, data: Any, timeout: Optional[float] = None) -> int:
        """Copy ``data`` (bytes-like, or a record of the ring's dtype) into the next slot and
        publish it, waiting up to ``timeout`` s for room (``TimeoutError``). Returns its sequence."""
        encoded = self._ring._encode(data)
        return self._raw.publish(encoded, timeout)

    def publish_many(self, items: Sequence[Any], timeout: Optional[float] = None) -> int:
        """Publish ``items`` in one claim; returns the last sequence."""
        encoded = [self._ring._encode(d) for d in items]
        return self._raw.publish_many(encoded, timeout)

    def claim(self, n: int = 1, timeout: Optional[float] = None) -> "Claim":
        """Claim ``n`` slots; use as ``with producer.claim(n) as views: ...`` (published on exit)."""
        if isinstance(n, int) and not isinstance(n, bool) and n < 0:
            raise ValueError("cannot claim %d slots: a claim is 1 to capacity slots" % n)
        return Claim(self, n, timeout)


class Claim:
    """Claimed slots: writable views (or numpy records) inside a ``with`` block, published on exit.

    ``claim.sequences`` is the range of claimed sequences; ``claim.set_len(i, n)`` sets the
    payload length of the i-th slot (default: the whole slot, or the dtype's itemsize). Leaving
    the block publishes the slots even on an exception (an unpublished slot would stall every
    consumer), so write every slot first.
    """

    def __init__(self, producer: Producer, n: int, timeout: Optional[float]) -> None:
        self._producer = producer
        self._n = n
        self._timeout = timeout
        self._views: List[Any] = []
        self._lens: List[int] = []
        self._open = False
        self.sequences = range(0)

    def __enter__(self) -> List[Any]:
        ring = self._producer._ring
        m = ring._mapping()  # before the claim: a failure here leaves nothing claimed
        start, end = self._producer._raw.claim(self._n, self._timeout)
        self._open = True
        self.sequences = range(start, end + 1)
        size = ring._dtype.itemsize if ring._dtype is not None else ring.slot_size
        self._lens = [size] * len(self.sequences)
        try:
            base = memoryview(m.mm)
            for seq in self.sequences:
                off = m.offset(seq)
                if ring._dtype is not None:
                    import numpy as np

                    self._views.append(np.frombuffer(m.mm, dtype=ring._dtype, count=1, offset=off)[0])
                else:
                    self._views.append(base[off : off + size])
            base.release()
        except BaseException:
            self.__exit__(None, None, None)  # publish what is claimed, let the others go on
            raise
        return self._views

    def set_len(self, i: int, n: int) -> None:
        """Set the payload length of the i-th claimed slot (0 to the slot size)."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("a payload length is an int, not %s" % type(n).__name__)
        size = self._producer._ring.slot_size
        if not 0 <= n <= size:
            raise ValueError("a payload length is 0 to %d bytes, not %d" % (size, n))
        self._lens[i] = n

    def __exit__(self, *exc: Any) -> None:
        for v in self._views:
            if isinstance(v, memoryview):
                v.release()
        self._views = []
        self._open = False
        self._producer._raw.commit(self._lens)

    def __del__(self) -> None:
        # Entered but never exited (``__enter__`` called by hand, the claim dropped): publish
        # what is claimed, as leaving the block would, so the producer and every consumer go on.
        if getattr(self, "_open", False):
            try:
                self.__exit__(None, None, None)
            except Exception:
                pass


class Consumer:
    """A gating consumer: producers never overwrite what it has not marked processed.

    ``wait_for(seq, timeout)`` returns the highest available sequence (>= seq); ``get(seq)``
    a zero-copy read-only view valid until ``update_sequence`` moves past ``seq``;
    ``get_bytes(seq)`` a copy. Iterating yields ``(seq, view)`` for ever (until ``Halted``),
    marking each batch processed when the next one is requested.
    """

    def __init__(self, ring: Ring, raw: Any) -> None:
        self._ring = ring
        self._raw = raw
        self._views: List[memoryview] = []

    @property
    def name(self) -> str:
        return self._raw.name

    @property
    def sequence(self) -> int:
        """The last sequence marked processed."""
        return self._raw.sequence

    def wait_for(self, seq: int, timeout: Optional[float] = None) -> int:
        """Wait until ``seq`` is available; return the highest available sequence.
        ``TimeoutError`` after ``timeout`` s, ``Halted``, ``ProducerDied``, ``UpstreamGone``."""
        return self._raw.wait_for(seq, timeout)

    def get(self, seq: int) -> Any:
        """A zero-copy, read-only view of the payload at ``seq`` (a numpy record for dtype
        rings), valid until ``update_sequence`` passes ``seq``."""
        return self._get(seq)

    def _get(self, seq: int) -> Any:
        n = self._raw.payload_len(seq)
        if n is None:
            raise ValueError(
                "sequence %d is not available to consumer %r (wait_for it first; %d is processed)"
                % (seq, self.name, self.sequence)
            )
        m = self._ring._mapping()
        off = m.offset(seq)
        if self._ring._dtype is not None:
            import numpy as np

            arr = np.frombuffer(m.mm, dtype=self._ring._dtype, count=1, offset=off)
            arr.flags.writeable = False
            return arr[0]
        base = memoryview(m.mm)
        view = base[off : off + n].toreadonly()
        base.release()
        self._views.append(view)
        return view

    def get_bytes(self, seq: int) -> bytes:
        """A copy of the payload at ``seq`` (bytes, or a numpy record copy for dtype rings)."""
        data = self._raw.read(seq)
        return self._ring._decode(data) if self._ring._dtype is not None else data

    def update_sequence(self, seq: int) -> None:
        """Mark everything up to ``seq`` processed; releases the views ``get`` handed out."""
        self._update_sequence(seq)

    def _update_sequence(self, seq: int) -> None:
        stuck = 0
        keep = []
        for v in self._views:
            try:
                v.release()
            except BufferError:
                stuck += 1
                keep.append(v)
        self._views = keep
        if stuck:
            raise BufferError(
                "%d view(s) from get() are still held through the buffer protocol: release them "
                "before update_sequence, the producer may overwrite their slots" % stuck
            )
        self._raw.update_sequence(seq)

    def __iter__(self) -> Iterator[Tuple[int, Any]]:
        while True:
            nxt = self.sequence + 1
            try:
                hi = self.wait_for(nxt)
            except (Halted, Closed):
                return
            for seq in range(nxt, hi + 1):
                yield seq, self.get(seq)
            self.update_sequence(hi)


class Subscriber:
    """A lossy reader: ``next(timeout)`` returns ``(seq, copy)`` or raises ``Lapped`` (with
    ``missed`` and ``resume_at``) when the producers overwrote events before it read them."""

    def __init__(self, ring: Ring, raw: Any) -> None:
        self._ring = ring
        self._raw = raw

    @property
    def next_sequence(self) -> int:
        return self._raw.next_sequence

    def next(self, timeout: Optional[float] = None) -> Tuple[int, Any]:
        seq, data = self._raw.next(timeout)
        return seq, self._ring._decode(data)

    def __iter__(self) -> Iterator[Tuple[int, Any]]:
        while True:
            try:
                yield self.next()
            except (Halted, Closed):
                return


class Worker:
    """A worker of a pool: ``process(timeout)`` returns ``(seq, copy)`` of the pool's next event;
    each event goes to exactly one worker of the pool, in whichever process."""

    def __init__(self, ring: Ring, raw: Any) -> None:
        self._ring = ring
        self._raw = raw

    def process(self, timeout: Optional[float] = None) -> Tuple[int, Any]:
        seq, data = self._raw.process(timeout)
        return seq, self._ring._decode(data)

    def __iter__(self) -> Iterator[Tuple[int, Any]]:
        while True:
            try:
                yield self.process()
            except (Halted, Closed):
                return
