//! One platform per test process, started on first use and torn down at exit.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use crate::{Platform, PlatformEnv, PlatformOptions};

/// Names the env file of a platform started by `rollgate-platform exec`/`up`.
pub const ENV_FILE_VAR: &str = "ROLLGATE_PLATFORM_ENV";

static ENV: OnceLock<PlatformEnv> = OnceLock::new();
static OWNED: Mutex<Option<Platform>> = Mutex::new(None);

/// The platform for this test process.
///
/// If `ROLLGATE_PLATFORM_ENV` names a file, that platform (started by
/// `rollgate-platform exec` or `up`) is used. Otherwise the first call starts
/// one with [`PlatformOptions::default`], which lives until the process exits:
/// an `atexit` hook tears it down, and its processes die with the process even
/// when it is killed. Panics with the reason if no platform can be had: e2e
/// tests must fail, never skip, without one.
pub fn shared() -> &'static PlatformEnv {
    ENV.get_or_init(|| match std::env::var_os(ENV_FILE_VAR) {
        Some(path) => PlatformEnv::load(Path::new(&path))
            .unwrap_or_else(|e| panic!("rollgate-platform: {ENV_FILE_VAR}: {e}")),
        None => start_for_this_process(),
    })
}

fn start_for_this_process() -> PlatformEnv {
    let (sender, receiver) = std::sync::mpsc::channel();
    // Children die with the thread that spawned them (PR_SET_PDEATHSIG), so
    // the platform is started from a thread that lives as long as the process.
    let spawned = std::thread::Builder::new()
        .name("rollgate-platform".to_string())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return drop(sender.send(Err(format!("tokio runtime: {e}")))),
            };
            match runtime.block_on(Platform::start(PlatformOptions::default())) {
                Ok(platform) => {
                    let env = platform.env().clone();
                    *OWNED.lock().unwrap_or_else(|e| e.into_inner()) = Some(platform);
                    // SAFETY: registers a plain extern "C" fn without captures.
                    unsafe { libc::atexit(tear_down_at_exit) };
                    let _ = sender.send(Ok(env));
                    runtime.block_on(std::future::pending::<()>());
                }
                Err(e) => drop(sender.send(Err(e.to_string()))),
            }
        });
    if let Err(e) = spawned {
        panic!("rollgate-platform: cannot start the platform thread: {e}");
    }
    match receiver.recv() {
        Ok(Ok(env)) => env,
        Ok(Err(e)) => panic!("rollgate-platform: cannot start the test platform: {e}"),
        Err(_) => panic!("rollgate-platform: the platform thread died while starting"),
    }
}

extern "C" fn tear_down_at_exit() {
    // try_lock: never hang the exit of a process that panicked mid-start.
    if let Ok(mut owned) = OWNED.try_lock() {
        drop(owned.take());
    }
}
