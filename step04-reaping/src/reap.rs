//! Reaping: collecting the exit status of children that have finished.
//!
//! A child that exits becomes a zombie until its parent calls `wait`: the
//! kernel keeps its process-table slot, pid and exit status for the parent
//! to read. SIGCHLD tells the parent "some child changed state". But
//! signals of one kind do not queue: if five children exit while SIGCHLD
//! is already pending, the parent receives *one* signal. So one `wait` per
//! signal ([`reap_once`], the tutorials' first attempt, kept here behind
//! `--reap once` to show the bug) leaves zombies behind under a burst.
//! [`reap_all`] loops `waitpid(-1, WNOHANG)` until no finished child is
//! left: however many signals were merged, every zombie is collected, and
//! `WNOHANG` makes sure the loop never blocks while children still run.

use std::collections::HashSet;

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How the server reaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReapMode {
    /// `waitpid(-1, WNOHANG)` until nothing is left: correct.
    #[default]
    Loop,
    /// One `waitpid` per SIGCHLD received: leaves zombies under a burst.
    Once,
}

// ANCHOR: reap_all
/// Collects every child that has exited; returns how many.
pub fn reap_all(children: &mut HashSet<Pid>) -> usize {
    let mut reaped = 0;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            // Children exist, but none has exited: done for now.
            Ok(WaitStatus::StillAlive) => return reaped,
            Ok(status) => {
                if let Some(pid) = status.pid() {
                    children.remove(&pid);
                    tracing::debug!("reaped {pid}: {status:?}");
                }
                reaped += 1;
            }
            // No children at all.
            Err(Errno::ECHILD) => return reaped,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!("waitpid failed: {e}");
                return reaped;
            }
        }
    }
}
// ANCHOR_END: reap_all

// ANCHOR: reap_once
/// The tutorials' first attempt: one `waitpid` for one signal.
pub fn reap_once(children: &mut HashSet<Pid>) -> usize {
    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) | Err(_) => 0,
        Ok(status) => {
            if let Some(pid) = status.pid() {
                children.remove(&pid);
            }
            1
        }
    }
}
// ANCHOR_END: reap_once
