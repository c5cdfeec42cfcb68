//! PostgreSQL's client tools (pg_dump, pg_restore) as child processes that
//! never outlive rez-db, however it ends.
//!
//! [`command`] builds the command line (the URL without its password, which
//! goes through PGPASSWORD; `--no-password`, so a tool never waits for a
//! prompt); [`run`] runs it to completion and returns its output. Three
//! mechanisms, one per way rez-db can end:
//!
//! - **Its future is dropped** (Ctrl-C, SIGTERM: `crate::run` drops the
//!   command): the tool's process group gets SIGTERM. The child is the leader
//!   of a group of its own, so the signal reaches pg_dump's / pg_restore's
//!   parallel workers too (forks, in the same group); each cancels its
//!   server query and exits. Then [`stop_all`] waits until every group is
//!   gone (SIGKILL after a grace period) before rez-db exits: nothing of
//!   theirs writes into the database after rez-db's exit status is seen.
//! - **rez-db is killed** (`kill -9`, the OOM killer): no code of ours runs,
//!   so the kernel does it. The child asks, between fork and exec, for
//!   SIGTERM when its parent dies (`prctl(PR_SET_PDEATHSIG)`, Linux). Its
//!   "parent" is the THREAD that forked it, not the process: a child spawned
//!   from one of tokio's worker or blocking-pool threads (which end when idle
//!   for 10 s) would be killed when that thread ends, in the middle of a
//!   healthy dump. So every child is spawned from a thread of its own that
//!   lives exactly as long as the child's process group: it spawns, waits,
//!   reaps, and only then ends. The leader forwards the SIGTERM to its
//!   workers, as above.
//! - **The leader dies first** (it `_exit`s on SIGTERM without waiting for
//!   its workers): rez-db is a child subreaper (`PR_SET_CHILD_SUBREAPER`,
//!   Linux), so the orphaned workers become rez-db's children rather than
//!   init's, and the supervising thread waits for and reaps every process of
//!   the group (`waitpid(-pgid)`), not only the leader. Whether a group is
//!   gone is then exact, whatever init does with orphans.
//!
//! Why not `tokio::process` with `kill_on_drop`: it sends SIGKILL to the
//! leader only (the workers and their server queries go on), a dropped
//! child can no longer be waited for, and the spawning thread is whichever
//! runtime thread polled the future.

use std::io;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::secret::RedactedUrl;

/// How long [`stop_all`] lets the tools end after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long [`stop_all`] waits after SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);

/// The command line of `tool` against the database of `url` (none for an
/// offline tool run, like `pg_restore --list`): the URL without its password
/// (`ps` shows a command line), the password in PGPASSWORD, and
/// `--no-password`: a tool in a process group of its own must never try to
/// prompt on the terminal (it would be stopped by SIGTTIN, for ever).
pub fn command(tool: &str, url: Option<&RedactedUrl>) -> Command {
    let mut cmd = Command::new(tool);
    cmd.arg("--no-password");
    if let Some(url) = url {
        let mut without_password = url.url().clone();
        let _ = without_password.set_password(None);
        cmd.arg(format!("--dbname={without_password}"));
        if let Some(password) = url.url().password() {
            cmd.env("PGPASSWORD", password);
        }
    }
    cmd
}

/// Runs `cmd` to completion (stdin closed, stdout and stderr captured) under
/// the guarantees of this module. Dropping the returned future stops the
/// tool's process group with SIGTERM; [`stop_all`] waits for it.
pub async fn run(cmd: Command) -> io::Result<Output> {
    let (mut output, stdout) = run_lines(cmd, Vec::new(), |out: &mut Vec<u8>, line| {
        out.extend_from_slice(line)
    })
    .await?;
    output.stdout = stdout;
    Ok(output)
}

/// [`run`] for a tool whose standard output may be large (`pg_restore
/// --data-only -f -` of a whole partition): each line (with its `\n`) goes to
/// `on_line` with `state` as it arrives, nothing of it is kept, and `state`
/// comes back with the output (whose `stdout` is empty).
pub async fn run_lines<S: Send + 'static>(
    mut cmd: Command,
    state: S,
    on_line: fn(&mut S, &[u8]),
) -> io::Result<(Output, S)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let name = format!("rez-db {}", cmd.get_program().to_string_lossy());
    let (started_tx, started_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let sink = Lines { state, on_line };
    std::thread::Builder::new()
        .name(name)
        .spawn(move || supervise(cmd, sink, started_tx, done_tx))?;
    let lost = || io::Error::other("the thread supervising the child process ended early");
    let group = started_rx.await.map_err(|_| lost())??;
    // From here on, a dropped future stops the group.
    let _stop = StopOnDrop(group);
    let (output, sink) = done_rx.await.map_err(|_| lost())??;
    Ok((output, sink.state))
}

/// Where a child's standard output goes, line by line.
struct Lines<S> {
    state: S,
    on_line: fn(&mut S, &[u8]),
}

impl<S> Lines<S> {
    /// Reads `from` to its end, one line at a time.
    fn drain(&mut self, from: impl io::Read) -> io::Result<()> {
        let mut reader = io::BufReader::new(from);
        let mut line = Vec::new();
        while io::BufRead::read_until(&mut reader, b'\n', &mut line)? > 0 {
            (self.on_line)(&mut self.state, &line);
            line.clear();
        }
        Ok(())
    }
}

/// Signals every running tool's group with SIGTERM and waits until all are
/// gone, SIGKILL after `grace`; for `crate::run` after Ctrl-C or SIGTERM,
/// before rez-db exits. Returns the groups still there after all that (a
/// process stuck in the kernel), for the message.
pub async fn stop_all(grace: Duration) -> Vec<u32> {
    signal_all(Signal::Term);
    if wait_all(grace).await {
        return Vec::new();
    }
    signal_all(Signal::Kill);
    wait_all(KILL_WAIT).await;
    running().iter().map(|g| g.pgid).collect()
}

/// How many tools run now.
pub fn count() -> usize {
    running().len()
}

/// One child's process group, registered while any of its processes lives.
#[derive(Debug)]
struct Group {
    /// The leader's pid, which is the group's id.
    pgid: u32,
    /// True once every process of the group has been reaped. Read and set
    /// under the lock, so that no signal is sent to an id that is free
    /// again (and could be reused by an unrelated process).
    reaped: Mutex<bool>,
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

impl Group {
    fn signal(&self, signal: Signal) {
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        if *reaped {
            return;
        }
        #[cfg(unix)]
        if let Some(pgid) = rustix::process::Pid::from_raw(self.pgid as i32) {
            let signal = match signal {
                Signal::Term => rustix::process::Signal::TERM,
                Signal::Kill => rustix::process::Signal::KILL,
            };
            // ESRCH: every process of the group has exited (not yet reaped).
            let _ = rustix::process::kill_process_group(pgid, signal);
        }
        #[cfg(not(unix))]
        let _ = signal;
    }
}

/// Stops the group (SIGTERM) when the future waiting for it is dropped;
/// after a normal end the group is already reaped and nothing is sent.
struct StopOnDrop(Arc<Group>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.signal(Signal::Term);
    }
}

/// The groups alive now. A std mutex: held for a push or a scan, never
/// across an await.
static RUNNING: Mutex<Vec<Arc<Group>>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<Arc<Group>>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

fn signal_all(signal: Signal) {
    for group in running().iter() {
        group.signal(signal);
    }
}

/// Waits up to `limit` for every group to be gone; true when they are.
async fn wait_all(limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if running().is_empty() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The body of a child's own thread: spawn, report the group, collect the
/// output, reap the whole group, report the output. The thread ends only
/// when no process of the group is left, so `PR_SET_PDEATHSIG` (tied to
/// this thread) fires only when rez-db itself dies.
fn supervise<S: Send>(
    mut cmd: Command,
    mut sink: Lines<S>,
    started: oneshot::Sender<io::Result<Arc<Group>>>,
    done: oneshot::Sender<io::Result<(Output, Lines<S>)>>,
) {
    prepare(&mut cmd);
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let group = Arc::new(Group {
        pgid: child.id(),
        reaped: Mutex::new(false),
    });
    running().push(group.clone());
    // The receiver is gone only if the future was dropped meanwhile: the
    // group must still be stopped, and waited for like any other.
    if let Err(Ok(group)) = started.send(Ok(group.clone())) {
        group.signal(Signal::Term);
    }
    let output = wait(child, &group, &mut sink);
    running().retain(|g| !Arc::ptr_eq(g, &group));
    let _ = done.send(output.map(|o| (o, sink)));
}

/// Collects the child's output and exit status, and reaps every process of
/// its group. The last process is reaped, and `reaped` set, under the
/// group's lock: a signal is either sent while some process still holds the
/// group's id, or not at all.
#[cfg(unix)]
fn wait<S: Send>(
    mut child: std::process::Child,
    group: &Group,
    sink: &mut Lines<S>,
) -> io::Result<Output> {
    use rustix::process::{Pid, WaitId, WaitIdOptions, WaitOptions};
    use std::os::unix::process::ExitStatusExt;

    // Both pipes to their end (the workers hold them too), concurrently, so
    // that a full stdout cannot block a tool that writes to stderr.
    let mut err = Vec::new();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let read = std::thread::scope(|scope| {
        let reader = scope.spawn(|| stdout.map(|s| sink.drain(s)));
        if let Some(mut s) = stderr {
            let _ = io::Read::read_to_end(&mut s, &mut err);
        }
        reader.join()
    });
    let leader =
        Pid::from_raw(group.pgid as i32).ok_or_else(|| io::Error::other("the child has no pid"))?;
    // Until the leader has exited, without reaping it: its id stays taken.
    loop {
        match rustix::process::waitid(
            WaitId::Pid(leader),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => break,
        }
    }
    let mut status = None;
    loop {
        let mut reaped = group.reaped.lock().unwrap_or_else(|e| e.into_inner());
        match rustix::process::waitpgid(leader, WaitOptions::NOHANG) {
            Ok(Some((pid, raw))) => {
                if pid == leader {
                    status = Some(std::process::ExitStatus::from_raw(raw.as_raw()));
                }
                continue;
            }
            Err(rustix::io::Errno::INTR) => continue,
            // Workers still running (orphaned to us): wait outside the lock,
            // so that stop_all can still signal them.
            Ok(None) => drop(reaped),
            // ECHILD: no process of the group is our child any more.
            Err(_) => {
                *reaped = true;
                break;
            }
        }
        std::thread::sleep(POLL);
    }
    let status = status.ok_or_else(|| io::Error::other("the child's exit status was lost"))?;
    match read {
        Ok(Some(Err(e))) => return Err(e),
        Err(_) => {
            return Err(io::Error::other(
                "the reader of the child's output panicked",
            ))
        }
        Ok(_) => {}
    }
    Ok(Output {
        status,
        stdout: Vec::new(),
        stderr: err,
    })
}

#[cfg(not(unix))]
fn wait<S: Send>(
    mut child: std::process::Child,
    group: &Group,
    sink: &mut Lines<S>,
) -> io::Result<Output> {
    if let Some(stdout) = child.stdout.take() {
        sink.drain(stdout)?;
    }
    let output = child.wait_with_output();
    *group.reaped.lock().unwrap_or_else(|e| e.into_inner()) = true;
    output
}

/// Puts the child in a process group of its own and, on Linux, asks the
/// kernel for SIGTERM to it when this (the spawning) thread ends.
fn prepare(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        become_subreaper();
        let parent = rustix::process::getpid();
        // SAFETY: between fork and exec only async-signal-safe code may run;
        // these are two raw system calls (rustix), and the error path builds
        // an io::Error from an errno without allocating.
        unsafe {
            cmd.pre_exec(move || {
                let term = rustix::process::Signal::TERM;
                rustix::process::set_parent_process_death_signal(Some(term))?;
                // rez-db died between the fork and the prctl: nobody would
                // ever send that signal, so do not start at all.
                if rustix::process::getppid() != Some(parent) {
                    return Err(io::Error::from(rustix::io::Errno::SRCH));
                }
                Ok(())
            });
        }
    }
}

/// Makes rez-db the reaper of its orphaned descendants (the workers of a
/// leader that died first), once per process.
#[cfg(target_os = "linux")]
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let me = rustix::process::getpid();
        if let Err(e) = rustix::process::set_child_subreaper(Some(me)) {
            tracing::warn!("cannot become the child subreaper ({e}): a pg_dump or pg_restore worker orphaned by its leader is left to init");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry is the process's: these tests take turns.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn a_tool_runs_to_completion_and_leaves_nothing_registered() {
        let _turn = SERIAL.lock().await;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = run(cmd).await.unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(count(), 0);
    }

    #[tokio::test]
    async fn a_missing_tool_is_an_error_not_a_hang() {
        let _turn = SERIAL.lock().await;
        let err = run(Command::new("rez-db-no-such-tool")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_dropped_run_stops_the_whole_group_and_stop_all_waits_for_it() {
        let _turn = SERIAL.lock().await;
        // A leader and a "worker" it forks, both in the tool's group; the
        // leader's own exit does not end the worker.
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("sleep 600 & echo $$ $! > {}; wait", pids.display()));
        let running = tokio::spawn(run(cmd));
        while std::fs::read_to_string(&pids).map_or(true, |s| !s.ends_with('\n')) {
            tokio::time::sleep(POLL).await;
        }
        let text = std::fs::read_to_string(&pids).unwrap();
        let alive = |pid: &str| std::path::Path::new(&format!("/proc/{pid}")).exists();
        assert!(text.split_whitespace().all(alive));
        running.abort();
        let _ = running.await;
        assert!(stop_all(STOP_GRACE).await.is_empty());
        // Gone and reaped (a zombie would still have its /proc entry).
        assert!(!text.split_whitespace().any(alive), "{text}");
        assert_eq!(count(), 0);
    }
}
