//! Counting global allocator. The bench binary installs it with
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
//! Counting is off unless [`start`] was called, so timed runs only pay one relaxed load per
//! allocation and never touch the shared counters.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// `System`, plus counters.
#[derive(Debug)]
pub struct CountingAlloc;

#[inline(always)]
fn note_alloc(size: usize) {
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
    if ON.load(Relaxed) {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(size as u64, Relaxed);
    }
}

#[inline(always)]
fn note_free(size: usize) {
    if ON.load(Relaxed) {
        FREED_BYTES.fetch_add(size as u64, Relaxed);
    }
}

// SAFETY: forwards every call to `System` unchanged; only adds counting.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Counter totals between [`start`] and [`stop`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    /// Allocations (a realloc counts as one).
    pub allocs: u64,
    /// Bytes requested.
    pub bytes: u64,
    /// Bytes freed.
    pub freed_bytes: u64,
}

/// Whether [`CountingAlloc`] is the global allocator (it has seen at least one allocation).
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// Reset the counters and start counting (all threads).
pub fn start() {
    ALLOCS.store(0, Relaxed);
    BYTES.store(0, Relaxed);
    FREED_BYTES.store(0, Relaxed);
    ON.store(true, Relaxed);
}

/// Stop counting and return the totals.
pub fn stop() -> Snapshot {
    ON.store(false, Relaxed);
    Snapshot {
        allocs: ALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
        freed_bytes: FREED_BYTES.load(Relaxed),
    }
}
