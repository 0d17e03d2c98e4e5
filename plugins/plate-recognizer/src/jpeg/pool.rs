//! Large buffers (coefficients, sample planes, pixels) kept for the next
//! photo of the same thread instead of being freed. A fresh allocation of
//! tens of megabytes is zeroed by the kernel page by page on first touch
//! (natively, one page fault per 4 KiB: on a VM about as slow as decoding
//! them); a kept buffer is zeroed by one `memset`. At most [`KEEP`] bytes
//! are kept per thread. Allocations are fallible: without the memory, the
//! caller decodes the photo the `image` crate's way, which needs less.

use std::cell::RefCell;

/// Most bytes kept per thread (an 8 MP 4:2:0 photo needs about 60 MB).
/// None in wasm32: there the allocator reuses freed memory without the
/// page faults, and memory kept would count against the instance's limit
/// while the next (smaller) photo is decoded another way.
#[cfg(not(target_arch = "wasm32"))]
const KEEP: usize = 96 << 20;
#[cfg(target_arch = "wasm32")]
const KEEP: usize = 0;

thread_local! {
    static BYTES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static WORDS: RefCell<Vec<Vec<i16>>> = const { RefCell::new(Vec::new()) };
}

fn take<T: Copy + Default>(pool: &RefCell<Vec<Vec<T>>>, n: usize) -> Option<Vec<T>> {
    let mut p = pool.borrow_mut();
    // the smallest kept buffer that holds n, else the largest (grown)
    let i = (0..p.len())
        .filter(|&i| p[i].capacity() >= n)
        .min_by_key(|&i| p[i].capacity())
        .or_else(|| (0..p.len()).max_by_key(|&i| p[i].capacity()));
    let mut v = i.map(|i| p.swap_remove(i)).unwrap_or_default();
    v.clear();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, T::default());
    Some(v)
}

// (in wasm32 KEEP is 0 and nothing is kept: `total <= KEEP` is then
// `total == 0`, which is what it should mean there)
#[cfg_attr(target_arch = "wasm32", allow(clippy::absurd_extreme_comparisons))]
fn give<T>(pool: &RefCell<Vec<Vec<T>>>, v: Vec<T>) {
    let size = |v: &Vec<T>| v.capacity() * std::mem::size_of::<T>();
    if v.capacity() == 0 || size(&v) > KEEP {
        return;
    }
    let mut p = pool.borrow_mut();
    p.push(v);
    // the largest first, while within the budget
    p.sort_by_key(|v| std::cmp::Reverse(v.capacity()));
    let mut total = 0;
    p.retain(|v| {
        total += size(v);
        total <= KEEP
    });
}

/// `n` zero bytes (`None`: out of memory).
pub(crate) fn bytes(n: usize) -> Option<Vec<u8>> {
    BYTES.with(|p| take(p, n))
}

/// `n` zero `i16`s (`None`: out of memory).
pub(crate) fn words(n: usize) -> Option<Vec<i16>> {
    WORDS.with(|p| take(p, n))
}

pub(crate) fn give_bytes(v: Vec<u8>) {
    // (`try_with`: nothing to keep once the thread is ending)
    let _ = BYTES.try_with(|p| give(p, v));
}

pub(crate) fn give_words(v: Vec<i16>) {
    let _ = WORDS.try_with(|p| give(p, v));
}
