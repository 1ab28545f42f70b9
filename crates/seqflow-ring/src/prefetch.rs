//! [`WritePrefetch`]: ask the CPU to take a cache line for writing before the write.

/// Proof that this CPU can fetch a cache line for writing ahead of the write: only
/// [`WritePrefetch::detect`] makes one, and only where the instruction exists. A caller that
/// prefetches often checks once, keeps the proof, and then pays nothing per prefetch for the
/// check.
///
/// ```
/// use seqflow_ring::WritePrefetch;
/// let slots = [0u64; 64];
/// if let Some(hint) = WritePrefetch::detect() {
///     hint.fetch(slots[32..].as_ptr().cast()); // the line this thread writes next
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePrefetch(());

impl WritePrefetch {
    /// The proof, if this CPU has the instruction: `PREFETCHW` on x86-64 CPUs whose CPUID
    /// reports it (asked once per process), `PRFM PSTL1KEEP` on every AArch64 CPU; `None` on
    /// other targets and under Miri.
    #[inline]
    pub fn detect() -> Option<Self> {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        let present = x86::has_prefetchw();
        #[cfg(all(target_arch = "aarch64", not(miri)))]
        let present = true;
        #[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri))))]
        let present = false;
        present.then_some(WritePrefetch(()))
    }

    /// Ask the CPU to bring the cache line that holds `addr` into this core's cache ready for a
    /// write (every other core's copy invalidated), ahead of the write itself. A producer that
    /// asks for the slot it will write a few events later finds the line there when it writes,
    /// instead of stalling on the consumer's core handing it over; the stores of the event
    /// before it no longer wait behind that hand-over.
    ///
    /// Only a hint: it changes no value any thread reads, never faults, and may be dropped.
    #[inline(always)]
    pub fn fetch(self, addr: *const u8) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: PREFETCHW only moves a cache line and never faults, whatever the address; it
        // changes no register, flag, stack or memory the program sees (as the options say).
        // `self` exists only where CPUID reported the instruction (`detect`): never undefined.
        unsafe {
            core::arch::asm!(
                "prefetchw byte ptr [{addr}]",
                addr = in(reg) addr,
                options(readonly, nostack, preserves_flags)
            );
        }
        #[cfg(all(target_arch = "aarch64", not(miri)))]
        // SAFETY: PRFM is a hint every AArch64 CPU decodes; it reads and writes nothing the
        // program can observe and never faults, whatever the address. It changes no register,
        // no flags and no stack, and writes no memory, as the options declare.
        unsafe {
            core::arch::asm!(
                "prfm pstl1keep, [{addr}]",
                addr = in(reg) addr,
                options(readonly, nostack, preserves_flags)
            );
        }
        #[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri))))]
        let _ = addr;
    }
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86 {
    use std::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const ABSENT: u8 = 1;
    const PRESENT: u8 = 2;

    /// What CPUID said about `PREFETCHW`, once asked.
    static PREFETCHW: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Whether the CPU reports `PREFETCHW` (CPUID leaf `0x8000_0001`, ECX bit 8). Asked once
    /// per process; afterwards one relaxed load of a byte that never changes again.
    #[inline(always)]
    pub(super) fn has_prefetchw() -> bool {
        match PREFETCHW.load(Ordering::Relaxed) {
            PRESENT => true,
            ABSENT => false,
            _ => detect(),
        }
    }

    #[cold]
    fn detect() -> bool {
        // `__cpuid` is safe from Rust 1.87 on and unsafe before (the workspace builds with 1.85).
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU, and so does the extended leaf 0x8000_0001:
        // its EDX holds the long-mode bit that 64-bit code needs to run at all. The instruction
        // only reports; it changes nothing.
        let leaf = unsafe { std::arch::x86_64::__cpuid(0x8000_0001) };
        let present = leaf.ecx & (1 << 8) != 0;
        // Racing first callers store the same answer.
        PREFETCHW.store(if present { PRESENT } else { ABSENT }, Ordering::Relaxed);
        present
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefetch_changes_nothing_and_takes_any_address() {
        let Some(hint) = WritePrefetch::detect() else {
            return;
        };
        let mut line = [7u8; 64];
        hint.fetch(line.as_ptr());
        line[0] = 8;
        hint.fetch(line.as_ptr());
        assert_eq!(line[0], 8);
        assert_eq!(line[1], 7);
        // A hint never faults, even on an address nothing maps.
        hint.fetch(std::ptr::null());
        hint.fetch(usize::MAX as *const u8);
    }

    #[test]
    fn the_answer_does_not_change() {
        assert_eq!(WritePrefetch::detect(), WritePrefetch::detect());
        #[cfg(all(target_arch = "aarch64", not(miri)))]
        assert!(WritePrefetch::detect().is_some());
        #[cfg(miri)]
        assert!(WritePrefetch::detect().is_none());
    }
}
