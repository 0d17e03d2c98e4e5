//! Large buffers (coefficients, sample planes, pixels) kept for the next
//! photo instead of being freed. A fresh allocation of tens of megabytes
//! is zeroed by the kernel page by page on first touch (natively, one
//! page fault per 4 KiB: on a VM about as slow as decoding them); a kept
//! buffer is zeroed by one `memset`. The buffers are kept for the whole
//! process, whichever thread decoded the photo, and at most [`KEEP`] bytes
//! of them in all: a caller recognising photos on many threads (the
//! host's blocking pool, a user's thread pool) keeps no more than one
//! thread would. Allocations are fallible: without the memory, the caller
//! decodes the photo the `image` crate's way, which needs less.

use std::sync::{Mutex, MutexGuard};

/// Most bytes kept in all (an 8 MP photo needs about 60 MB in 4:2:0,
/// about 100 MB in 4:4:4). None in wasm32: there the allocator reuses
/// freed memory without the page faults, and memory kept would count
/// against the instance's limit while the next (smaller) photo is
/// decoded another way.
#[cfg(not(target_arch = "wasm32"))]
const KEEP: usize = 192 << 20;
#[cfg(target_arch = "wasm32")]
const KEEP: usize = 0;

/// A kept buffer of either kind.
enum Buf {
    Bytes(Vec<u8>),
    Words(Vec<i16>),
}

/// What a buffer holds: `u8` or `i16`.
trait Elem: Copy + Default + Sized {
    fn wrap(v: Vec<Self>) -> Buf;
    fn of(b: &Buf) -> Option<&Vec<Self>>;
    fn unwrap(b: Buf) -> Vec<Self>;
}

/// `Elem` for the element type `$t` of the variant `$this` (`$other` the
/// other variant).
macro_rules! elem {
    ($t:ty, $this:ident, $other:ident) => {
        impl Elem for $t {
            fn wrap(v: Vec<$t>) -> Buf {
                Buf::$this(v)
            }
            fn of(b: &Buf) -> Option<&Vec<$t>> {
                match b {
                    Buf::$this(v) => Some(v),
                    Buf::$other(_) => None,
                }
            }
            fn unwrap(b: Buf) -> Vec<$t> {
                match b {
                    Buf::$this(v) => v,
                    Buf::$other(_) => Vec::new(),
                }
            }
        }
    };
}
elem!(u8, Bytes, Words);
elem!(i16, Words, Bytes);

impl Buf {
    fn size(&self) -> usize {
        match self {
            Buf::Bytes(v) => v.capacity(),
            Buf::Words(v) => v.capacity() * std::mem::size_of::<i16>(),
        }
    }
}

static KEPT: Mutex<Vec<Buf>> = Mutex::new(Vec::new());

/// The kept buffers, locked. (A panic elsewhere while they were locked
/// leaves them a valid list of buffers: the lock is taken back.)
fn kept() -> MutexGuard<'static, Vec<Buf>> {
    KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `n` default values in the smallest kept buffer of their kind that holds
/// them, else in the largest (grown), else in a new one; filled outside
/// the lock.
fn take<T: Elem>(n: usize) -> Option<Vec<T>> {
    let mut v = {
        let mut p = kept();
        let cap = |i: usize| T::of(&p[i]).map(|v| v.capacity());
        let i = (0..p.len())
            .filter(|&i| cap(i).is_some_and(|c| c >= n))
            .min_by_key(|&i| cap(i))
            .or_else(|| {
                (0..p.len())
                    .filter(|&i| cap(i).is_some())
                    .max_by_key(|&i| cap(i))
            });
        i.map(|i| T::unwrap(p.swap_remove(i))).unwrap_or_default()
    };
    v.clear();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, T::default());
    Some(v)
}

// (in wasm32 KEEP is 0 and nothing is kept: `total <= KEEP` is then
// `total == 0`, which is what it should mean there)
#[cfg_attr(target_arch = "wasm32", allow(clippy::absurd_extreme_comparisons))]
fn give<T: Elem>(v: Vec<T>) {
    let b = T::wrap(v);
    if b.size() == 0 || b.size() > KEEP {
        return;
    }
    let mut p = kept();
    p.push(b);
    // the largest first, of either kind, while within the budget
    p.sort_by_key(|b| std::cmp::Reverse(b.size()));
    let mut total = 0;
    p.retain(|b| {
        total += b.size();
        total <= KEEP
    });
}

/// `n` zero bytes (`None`: out of memory).
pub(crate) fn bytes(n: usize) -> Option<Vec<u8>> {
    take(n)
}

/// `n` zero `i16`s (`None`: out of memory).
pub(crate) fn words(n: usize) -> Option<Vec<i16>> {
    take(n)
}

pub(crate) fn give_bytes(v: Vec<u8>) {
    give(v)
}

pub(crate) fn give_words(v: Vec<i16>) {
    give(v)
}

/// Bytes kept now, of both kinds.
#[cfg(all(test, not(target_arch = "wasm32")))]
fn kept_bytes() -> usize {
    kept().iter().map(Buf::size).sum()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn buffers_given_back_on_many_threads_keep_the_budget_in_all() {
        // eight threads at once, each giving back buffers of both kinds
        // worth 32 MiB, as a photo's decode does (256 MiB in all): no more
        // than KEEP is kept, and it outlives the threads
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let w = words(4 << 20).expect("memory");
                    let b = bytes(24 << 20).expect("memory");
                    give_words(w);
                    give_bytes(b);
                });
            }
        });
        let kept = kept_bytes();
        assert!(kept <= KEEP, "{kept} bytes kept, more than {KEEP}");
        assert!(kept > 0, "nothing kept once the threads ended");
        // and what is kept is used again, zeroed
        let mut b = bytes(1 << 20).expect("memory");
        assert!(b.iter().all(|&x| x == 0));
        b[0] = 7;
        give_bytes(b);
        assert!(bytes(1 << 20).expect("memory").iter().all(|&x| x == 0));
    }
}
