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

/// The kept buffers of both kinds.
struct Kept {
    bytes: Vec<Vec<u8>>,
    words: Vec<Vec<i16>>,
}

static KEPT: Mutex<Kept> = Mutex::new(Kept {
    bytes: Vec::new(),
    words: Vec::new(),
});

/// The kept buffers, locked. (A panic elsewhere while they were locked
/// leaves them a valid list of buffers: the lock is taken back.)
fn kept() -> MutexGuard<'static, Kept> {
    KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn size<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

/// `n` default values in the smallest kept buffer that holds them, else in
/// the largest (grown), else in a new one; filled outside the lock.
fn take<T: Copy + Default>(
    pick: impl FnOnce(&mut Kept) -> &mut Vec<Vec<T>>,
    n: usize,
) -> Option<Vec<T>> {
    let mut v = {
        let mut k = kept();
        let p = pick(&mut k);
        let i = (0..p.len())
            .filter(|&i| p[i].capacity() >= n)
            .min_by_key(|&i| p[i].capacity())
            .or_else(|| (0..p.len()).max_by_key(|&i| p[i].capacity()));
        i.map(|i| p.swap_remove(i)).unwrap_or_default()
    };
    v.clear();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, T::default());
    Some(v)
}

// (in wasm32 KEEP is 0 and nothing is kept: `size(&v) > KEEP` is then
// `size(&v) > 0`, which is what it should mean there)
#[cfg_attr(target_arch = "wasm32", allow(clippy::absurd_extreme_comparisons))]
fn give<T>(pick: impl FnOnce(&mut Kept) -> &mut Vec<Vec<T>>, v: Vec<T>) {
    if v.capacity() == 0 || size(&v) > KEEP {
        return;
    }
    let mut k = kept();
    pick(&mut k).push(v);
    // the largest buffers of either kind first, while within the budget
    let mut all: Vec<(usize, bool, usize)> = (k.bytes.iter().enumerate())
        .map(|(i, v)| (size(v), true, i))
        .chain(k.words.iter().enumerate().map(|(i, v)| (size(v), false, i)))
        .collect();
    all.sort_by(|a, b| b.cmp(a));
    let mut total = 0;
    let (mut keep_bytes, mut keep_words) = (vec![false; k.bytes.len()], vec![false; k.words.len()]);
    for (s, is_bytes, i) in all {
        total += s;
        if total <= KEEP {
            if is_bytes {
                keep_bytes[i] = true;
            } else {
                keep_words[i] = true;
            }
        } else {
            total -= s;
        }
    }
    k.bytes = std::mem::take(&mut k.bytes)
        .into_iter()
        .zip(keep_bytes)
        .filter_map(|(v, keep)| keep.then_some(v))
        .collect();
    k.words = std::mem::take(&mut k.words)
        .into_iter()
        .zip(keep_words)
        .filter_map(|(v, keep)| keep.then_some(v))
        .collect();
}

/// `n` zero bytes (`None`: out of memory).
pub(crate) fn bytes(n: usize) -> Option<Vec<u8>> {
    take(|k| &mut k.bytes, n)
}

/// `n` zero `i16`s (`None`: out of memory).
pub(crate) fn words(n: usize) -> Option<Vec<i16>> {
    take(|k| &mut k.words, n)
}

pub(crate) fn give_bytes(v: Vec<u8>) {
    give(|k| &mut k.bytes, v)
}

pub(crate) fn give_words(v: Vec<i16>) {
    give(|k| &mut k.words, v)
}

/// Bytes kept now, of both kinds.
#[cfg(all(test, not(target_arch = "wasm32")))]
fn kept_bytes() -> usize {
    let k = kept();
    k.bytes.iter().map(size).sum::<usize>() + k.words.iter().map(size).sum::<usize>()
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
