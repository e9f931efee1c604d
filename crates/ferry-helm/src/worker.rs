//! Long-lived threads with a large stack, for rendering and for reading document heads.
//!
//! Deep templates need a deep stack, so rendering runs on a thread with a 512 MiB stack (only the
//! pages touched cost memory). Starting such a thread for every render costs more than rendering
//! a small chart does: the thread itself, and a fresh allocator heap whose pages all fault in
//! again. So finished workers wait for the next job instead of exiting; a job takes an idle
//! worker or, when none is idle, starts one (at most [`MAX_IDLE`] are kept).

use std::sync::mpsc;
use std::sync::Mutex;

/// A job runs in two steps: the work, then (after the worker is idle again) its delivery, so a
/// caller that starts another job at once finds the same worker waiting. The delivery never
/// leaves the worker's thread, so it need not be `Send` (it may drop what the work left behind).
type Job = Box<dyn FnOnce() -> Box<dyn FnOnce()> + Send>;

/// Workers waiting for a job.
static IDLE: Mutex<Vec<mpsc::Sender<Job>>> = Mutex::new(Vec::new());

/// Stack size of a worker.
const STACK: usize = 512 * 1024 * 1024;

/// Idle workers kept beyond this number exit.
const MAX_IDLE: usize = 4;

/// Why a job did not produce a result.
#[derive(Debug)]
pub(crate) enum WorkerError {
    /// No thread could be started.
    Spawn(std::io::Error),
    /// The job panicked.
    Panicked,
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Spawn(e) => write!(f, "cannot start render thread: {e}"),
            WorkerError::Panicked => f.write_str("render thread panicked"),
        }
    }
}

/// What a job leaves behind, dropped on the worker after the result is delivered: freeing a
/// render's templates and values takes a while, and the caller need not wait for it.
#[derive(Default)]
pub(crate) struct Leftovers(Vec<Box<dyn std::any::Any>>);

impl Leftovers {
    /// Keeps `x` to drop later.
    pub(crate) fn keep(&mut self, x: impl std::any::Any) {
        self.0.push(Box::new(x));
    }
}

/// Runs `work` on a worker thread with a large stack and returns its result; `meanwhile` runs on
/// the calling thread before it waits. What `work` leaves in its [`Leftovers`] is dropped after
/// the result is delivered.
pub(crate) fn run<T: Send + 'static>(
    work: impl FnOnce(&mut Leftovers) -> T + Send + 'static,
    meanwhile: impl FnOnce(),
) -> Result<T, WorkerError> {
    let (tx, rx) = mpsc::sync_channel(1);
    start(move || {
        let mut left = Leftovers::default();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut left)));
        move || {
            // the caller may have gone; nothing to do then
            let _ = tx.send(result);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(left)));
        }
    })?;
    meanwhile();
    match receive(&rx) {
        Ok(Ok(value)) => Ok(value),
        _ => Err(WorkerError::Panicked),
    }
}

/// How long a thread polls before it sleeps on a channel. Waking a sleeping thread is slow on a
/// virtual machine, slower than working out a small chart's values; renders and their helpers
/// come in quick succession, so a short poll usually finds the message.
const POLL: std::time::Duration = std::time::Duration::from_micros(200);

/// Receives from `rx`, polling for [`POLL`] (yielding the core to anything else runnable) before
/// sleeping.
pub(crate) fn receive<T>(rx: &mpsc::Receiver<T>) -> Result<T, mpsc::RecvError> {
    let start = std::time::Instant::now();
    loop {
        for _ in 0..64 {
            match rx.try_recv() {
                Ok(v) => return Ok(v),
                Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
                Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
            }
        }
        if start.elapsed() > POLL {
            return rx.recv();
        }
    }
}

/// Starts `work` on a worker thread and returns at once; `work` reports back by itself (a panic
/// in it drops whatever it would have sent). When `work` returns a closure, that closure runs
/// after the worker is idle again.
pub(crate) fn start<D: FnOnce() + 'static>(
    work: impl FnOnce() -> D + Send + 'static,
) -> Result<(), WorkerError> {
    #[cfg(target_os = "linux")]
    let caller_cpu = current_cpu();
    let mut job: Job = Box::new(move || {
        #[cfg(target_os = "linux")]
        if let Some(cpu) = caller_cpu {
            if current_cpu() == Some(cpu) {
                move_off(cpu);
            }
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
            Ok(deliver) => Box::new(deliver),
            Err(_) => Box::new(|| {}),
        }
    });
    loop {
        let idle = IDLE.lock().ok().and_then(|mut v| v.pop());
        match idle {
            Some(worker) => match worker.send(job) {
                Ok(()) => return Ok(()),
                // that worker has exited: try the next one
                Err(mpsc::SendError(back)) => job = back,
            },
            None => return spawn(job).map_err(WorkerError::Spawn),
        }
    }
}

/// Starts a worker whose first job is `first`.
fn spawn(first: Job) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("ferry-helm-render".into())
        .stack_size(STACK)
        .spawn(move || {
            let mut job = first;
            loop {
                let deliver = job();
                let parked = match IDLE.lock() {
                    Ok(mut idle) if idle.len() < MAX_IDLE => {
                        idle.push(tx.clone());
                        true
                    }
                    _ => false,
                };
                deliver();
                if !parked {
                    return;
                }
                match receive(&rx) {
                    Ok(next) => job = next,
                    Err(_) => return,
                }
            }
        })?;
    Ok(())
}

/// Moves the calling thread off `cpu`, then lets it run anywhere again. A job that finds itself
/// on the CPU of the thread that gave it calls this first.
///
/// Linux starts a thread on the CPU of the thread that spawned it, and wakes a sleeping thread
/// on the CPU of the thread that woke it when it judges them to share data. A worker and its
/// caller then hand work back and forth on one core, and as both ran a moment ago both count as
/// cache-hot: the scheduler leaves the other core idle for tens to hundreds of milliseconds,
/// often all of a short run (`render_bench CHART --bench N --trace` showed small charts at their
/// one-core speed until one of the threads was moved). Moving the worker off puts it on an idle
/// core at once; the scheduler stays free to move it. Failing does no harm.
#[cfg(target_os = "linux")]
fn move_off(cpu: usize) {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if cpu >= 8 * size {
        // beyond what a set can name (and what `CPU_CLR` can index)
        return;
    }
    // SAFETY: an all-zero `cpu_set_t` is the empty set; pid 0 is this thread; both sets are
    // valid, writable and `size` bytes long, and `cpu` is within a set (checked above)
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut allowed) != 0 {
            return;
        }
        let mut elsewhere = allowed;
        libc::CPU_CLR(cpu, &mut elsewhere);
        if libc::CPU_COUNT(&elsewhere) > 0 && libc::sched_setaffinity(0, size, &elsewhere) == 0 {
            libc::sched_setaffinity(0, size, &allowed);
        }
    }
}

/// The CPU the calling thread runs on, if the system says.
#[cfg(target_os = "linux")]
fn current_cpu() -> Option<usize> {
    // SAFETY: no arguments; returns -1 on failure
    usize::try_from(unsafe { libc::sched_getcpu() }).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use super::run;

    #[test]
    fn returns_results_and_reuses_threads() {
        let first = run(|_| std::thread::current().id(), || {}).unwrap();
        let second = run(|_| std::thread::current().id(), || {}).unwrap();
        // the worker parks itself before delivering, so a sequential caller gets it back
        // (another test running at the same time may take it; allow one miss)
        let third = run(|_| std::thread::current().id(), || {}).unwrap();
        assert!(first == second || second == third);
        assert_eq!(run(|_| 6 * 7, || {}).unwrap(), 42);
    }

    #[test]
    fn a_panic_is_an_error_and_the_pool_survives() {
        let r = run(|_| -> u32 { panic!("boom") }, || {});
        assert!(r.is_err());
        assert_eq!(run(|_| 1 + 1, || {}).unwrap(), 2);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_moved_off_a_cpu_runs_elsewhere_and_may_go_anywhere_again() {
        fn allowed() -> libc::cpu_set_t {
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::cpu_set_t>();
            assert_eq!(unsafe { libc::sched_getaffinity(0, size, &mut set) }, 0);
            set
        }
        let before = allowed();
        let several = unsafe { libc::CPU_COUNT(&before) } >= 2;
        if !several {
            eprintln!("only one CPU allowed: nothing to move to, only the mask is checked");
        }
        let here = super::current_cpu().unwrap();
        super::move_off(here);
        if several {
            assert_ne!(super::current_cpu().unwrap(), here);
        }
        assert!(unsafe { libc::CPU_EQUAL(&before, &allowed()) });
    }

    #[test]
    fn deep_recursion_fits_the_stack() {
        fn depth(n: u64) -> u64 {
            let pad = std::hint::black_box([0u8; 512]);
            if n == 0 {
                u64::from(pad[0])
            } else {
                depth(n - 1) + 1
            }
        }
        // ~100 MB of stack: far beyond a default 8 MiB thread
        assert_eq!(run(|_| depth(200_000), || {}).unwrap(), 200_000);
    }
}
