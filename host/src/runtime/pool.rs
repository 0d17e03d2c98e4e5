//! The bounded pool for CPU-heavy work the host does itself, outside a
//! plugin call: decompression, hashing. Such work never runs on the async
//! worker threads (it would stall every connection sharing them) and never
//! on more threads at once than the machine has cores, so a flood of it
//! queues here instead of taking the process's CPU and memory.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

fn permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Semaphore::new(cores))
    })
}

/// Runs `f` on a blocking thread once one of the pool's permits (one per
/// core) is free. None if `f` panicked.
pub async fn cpu<R, F>(f: F) -> Option<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let permit = permits().clone().acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let r = f();
        drop(permit);
        r
    })
    .await
    .ok()
}
