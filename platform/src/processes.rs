//! Child processes that cannot outlive the harness.
//!
//! Every child is started with `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills
//! it when the thread that spawned it exits (a crashed or `SIGKILL`ed test
//! process leaves nothing behind), and in its own process group, so a Ctrl-C
//! in the terminal reaches the harness, which then tears down in order.
//! Output goes to a log file whose tail is quoted when the process misbehaves.
//!
//! The death signal follows the spawning *thread*, not the process: a child
//! forked from a test thread, a tokio worker or a `spawn_blocking` thread would
//! be killed when that thread ends (a blocking thread idles out after 10 s). So
//! every child is forked by one keeper thread that lives as long as the process.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::PlatformError;

/// How much of a log to quote in an error.
const TAIL_BYTES: u64 = 4096;

/// A child process with its command line remembered, so it can be restarted.
#[derive(Debug)]
pub(crate) struct Process {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    /// Starts `program args...` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(
        name: &str,
        program: &Path,
        args: Vec<OsString>,
        log: PathBuf,
    ) -> Result<Process, PlatformError> {
        let mut process = Process {
            name: name.to_string(),
            program: program.to_path_buf(),
            args,
            log,
            child: None,
        };
        process.start()?;
        Ok(process)
    }

    fn start(&mut self) -> Result<(), PlatformError> {
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .map_err(|e| PlatformError::io(format!("opening {}", self.log.display()), e))
        };
        let stdout: File = open_log()?;
        let stderr: File = open_log()?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        bind_to_this_process(&mut command);
        let child = spawn_from_keeper(command).map_err(|e| {
            PlatformError::io(
                format!("starting {} ({})", self.name, self.program.display()),
                e,
            )
        })?;
        self.child = Some(child);
        Ok(())
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// The process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails with the log tail when the process has exited.
    pub(crate) fn check_running(&mut self) -> Result<(), PlatformError> {
        let Some(child) = self.child.as_mut() else {
            return Err(self.exited("stopped".to_string()));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(self.exited(status.to_string()))
            }
            Err(e) => Err(PlatformError::io(format!("waiting for {}", self.name), e)),
        }
    }

    fn exited(&self, status: String) -> PlatformError {
        PlatformError::Exited {
            process: self.name.clone(),
            status,
            log: self.log.clone(),
            tail: self.log_tail(),
        }
    }

    /// The error for "did not become ready in time", quoting the log.
    pub(crate) fn not_ready(&self, waited: Duration, last: String) -> PlatformError {
        PlatformError::NotReady {
            process: self.name.clone(),
            waited,
            last,
            log: self.log.clone(),
            tail: self.log_tail(),
        }
    }

    /// The last few KiB of the log.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Sends `signal` to the process (not waiting for it).
    pub(crate) fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            // SAFETY: plain syscall on a pid we own and have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, signal);
            }
        }
    }

    /// Reaps the process if it has exited; true when nothing is running.
    fn reaped(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            None => true,
            Some(Ok(None)) => false,
            Some(Ok(Some(_)) | Err(_)) => {
                self.child = None;
                true
            }
        }
    }

    /// SIGKILL and reap: the process gets no chance to finish anything.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to exit until `deadline`, then kills it; reaps it.
    pub(crate) fn wait_or_kill(&mut self, deadline: Instant) {
        while !self.reaped() {
            if Instant::now() >= deadline {
                self.kill();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the process to stop (SIGTERM), killing it after `grace`.
    pub(crate) fn stop(&mut self, grace: Duration) {
        self.signal(libc::SIGTERM);
        self.wait_or_kill(Instant::now() + grace);
    }

    /// [`Process::stop`] without blocking the async runtime.
    pub(crate) async fn stop_async(&mut self, grace: Duration) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while !self.reaped() {
            if Instant::now() >= deadline {
                self.kill();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the same command line again, stopping it first if it runs.
    pub(crate) async fn restart(&mut self) -> Result<(), PlatformError> {
        self.stop_async(Duration::from_secs(10)).await;
        self.start()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// A command for the keeper thread, and where to send the child back.
type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Forks `command` from the keeper thread (see the module docs): its
/// `PR_SET_PDEATHSIG` then fires when the process dies, not when the calling
/// thread does. Blocks only for the fork and exec.
fn spawn_from_keeper(command: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("rollgate-spawner".to_string())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("starting the process keeper thread");
        Mutex::new(requests)
    });
    let (reply, child) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the process keeper thread is gone"))?;
    child
        .recv()
        .map_err(|_| std::io::Error::other("the process keeper thread is gone"))?
}

/// Starts `command` so that it dies with this process, even when the process is
/// `SIGKILL`ed (`PR_SET_PDEATHSIG`, forked by a thread that lives as long as the
/// process), in a process group of its own. For processes a test starts itself,
/// such as a controller under test; stopping it stays the caller's job.
pub fn spawn_bound(mut command: Command) -> std::io::Result<Child> {
    bind_to_this_process(&mut command);
    spawn_from_keeper(command)
}

/// Makes the child of `command` die with this process and lead its own process group.
fn bind_to_this_process(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls (prctl, getppid, setpgid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("parent exited during spawn"));
            }
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Stops every process: all get SIGTERM at once, stragglers SIGKILL after `grace`.
pub(crate) fn stop_all(processes: &mut [Process], grace: Duration) {
    for process in processes.iter().rev() {
        process.signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    for process in processes.iter_mut().rev() {
        process.wait_or_kill(deadline);
    }
}

/// The last few KiB of a log file, or a note why it cannot be read.
pub(crate) fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(tail) if tail.trim().is_empty() => "(log is empty)".to_string(),
        Ok(tail) => tail,
        Err(e) => format!("(cannot read log: {e})"),
    }
}

/// A loopback TCP port that was free a moment ago and that this process has
/// not handed out before (the kernel may offer a just-closed port again).
pub(crate) fn free_port() -> Result<u16, PlatformError> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| PlatformError::io("finding a free port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| PlatformError::io("finding a free port", e))?
            .port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
}

/// Builds an argument vector from anything string-like.
pub(crate) fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}
