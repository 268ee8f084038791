//! Dropping privileges: start as root, serve as `nobody`, and prove that
//! root cannot come back.
//!
//! A server starts as root only for what needs root: binding port 80 and
//! opening its logs. Everything after that, including every request,
//! every CGI script and every PHP page, runs as an ordinary user. The order
//! is fixed (the server-behaviour reference §7), and every step checks its
//! return value:
//!
//! 1. [`resolve`] the user and group names to ids *now*, while we are still
//!    root: after the drop, NSS data (`/etc/passwd`, an LDAP socket) and the
//!    libraries behind it may no longer be readable.
//! 2. Bind the listeners and open the logs (elsewhere), then
//!    [`prepare_paths`]: `chown` what must stay writable, so rotation and
//!    session files still work after the drop.
//! 3. [`drop_to`]: `setgroups([])` first, because afterwards it fails with
//!    EPERM and root's supplementary group 0 would stay; then `setgid`,
//!    which also needs root; and `setuid` last. Called as root, `setuid` sets
//!    the real, effective *and saved* uid, so no later call can get root back.
//! 4. Verify, and make the caller abort if anything looks wrong: every id is
//!    the target, `setuid(0)` and friends fail with EPERM, and the kernel's
//!    own view in `/proc/self/status` agrees, with no capabilities left.
//!
//! # Threads
//!
//! Credentials belong to each *thread* in the kernel, not to the process.
//! glibc's `setuid` wrapper (which `nix` calls) signals every thread and
//! changes them all; a raw `syscall(SYS_setuid, …)` would change only the
//! calling thread and leave root behind in the others. Even with glibc, a
//! thread caught in the middle of a privileged operation would finish it as
//! root. So the drop happens before the tokio runtime or any other thread
//! starts, and [`drop_to`] refuses to run if `/proc/self/task` shows more
//! than one thread.
//!
//! This module is Linux-only: the verification reads `/proc`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::{
    Gid, Group, ResGid, ResUid, Uid, User, geteuid, getresgid, getresuid, seteuid, setgid,
    setgroups, setuid,
};

/// Why resolving, preparing or dropping privileges failed.
///
/// Each one means the server must not serve: the caller logs it and exits
/// (after a failed [`drop_to`], the process may be half switched).
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// No such user in the passwd database, and not a usable number either.
    #[error("user {0:?} not found (neither a passwd entry nor a numeric uid)")]
    UnknownUser(String),
    /// No such group in the group database, and not a usable number either.
    #[error("group {0:?} not found (neither a group entry nor a numeric gid)")]
    UnknownGroup(String),
    /// A numeric uid without a passwd entry has no primary group to default to.
    #[error("uid {0} has no passwd entry, so it has no primary group: set server.group too")]
    NoPrimaryGroup(u32),
    /// The user or group database could not be read (not "no such entry").
    #[error("looking up {what} {name:?}: {source}")]
    Lookup {
        /// `"user"` or `"group"`.
        what: &'static str,
        /// The name as configured.
        name: String,
        /// What the `getpw*_r`/`getgr*_r` call reported.
        source: Errno,
    },
    /// Dropping "to root" would silently keep every privilege.
    #[error("refusing to drop privileges to {what} 0 (root): choose an unprivileged account")]
    TargetIsRoot {
        /// `"uid"` or `"gid"`.
        what: &'static str,
    },
    /// Some thread already runs, and might keep (or be using) root.
    #[error(
        "{0} threads are running: privileges must be dropped before any thread \
         (or the tokio runtime) starts"
    )]
    ThreadsRunning(usize),
    /// A call that switches (or reads back) the identity failed.
    #[error("{call} failed: {source}")]
    Switch {
        /// The call, with its argument: `"setgid(65534)"`.
        call: String,
        /// The errno it returned.
        source: Errno,
    },
    /// An attempt to get root back did not fail the way it must.
    #[error("{call} did not fail with EPERM ({outcome}): root could be regained")]
    RootRegainable {
        /// The probe: `"setuid(0)"`, `"seteuid(0)"`, …
        call: &'static str,
        /// `"it succeeded"`, or the unexpected errno.
        outcome: String,
    },
    /// A check after the switch found something other than the target identity.
    #[error("privilege drop not verified: {check}: {detail}")]
    Unverified {
        /// What was checked: `"getresuid"`, `"Uid: in /proc/self/status"`, …
        check: String,
        /// What was found instead.
        detail: String,
    },
    /// Reading `/proc`, or opening or changing the owner of a path, failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// `"chown"`, `"read"`, …
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A path that is not safe to hand to the unprivileged user.
    #[error("refusing to chown {}: {reason}", path.display())]
    UnsafePath {
        /// The path as configured.
        path: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// The account the server runs as after the drop, resolved while still root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user as named in the passwd database (or as configured, for a
    /// numeric uid without an entry); for log messages only.
    pub user: String,
    /// The uid that `setuid` will switch to; never 0.
    pub uid: Uid,
    /// The gid that `setgid` will switch to; never 0.
    pub gid: Gid,
}

/// Raise the soft limit on open descriptors to the hard limit.
///
/// Every connection, log and CGI pipe is a descriptor, and the usual soft
/// limit (1024) runs out under load long before memory or CPU do. Raising
/// the soft limit up to the hard one needs no privilege, so this may run
/// before or after the drop; the hard limit itself is the administrator's
/// (systemd's `LimitNOFILE=`), and we leave it alone. The 1024 default
/// exists for `select(2)`, whose `FD_SETSIZE` cannot go above it; tokio
/// uses epoll, so the server does not care.
///
/// Returns the old and the new soft limit (equal if nothing changed).
///
/// # Errors
///
/// Whatever `getrlimit` or `setrlimit` reports; the caller may log it and
/// carry on with the old limit.
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    // Linux never lets this hard limit be RLIM_INFINITY: setrlimit caps it
    // at `fs.nr_open`, so `hard` is a value we may set. (Should an admin
    // have lowered nr_open since, the EPERM reaches the caller.)
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (new_soft, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok((soft, new_soft))
}

/// Resolve the configured user (and group) to ids, while NSS still works.
///
/// Each name is looked up first as a name, then, if that fails and it is a
/// number, taken as an id (the rule of chown(1)), so `user = "65534"` works
/// on a system without a `nobody` entry. Without a `group`, the user's
/// primary group from the passwd database is used.
///
/// # Errors
///
/// [`PrivilegeError::UnknownUser`] or [`PrivilegeError::UnknownGroup`]
/// naming what is missing; [`PrivilegeError::NoPrimaryGroup`] for a numeric
/// uid with no passwd entry and no group; [`PrivilegeError::Lookup`] if the
/// database itself could not be read.
pub fn resolve(user: &str, group: Option<&str>) -> Result<Identity, PrivilegeError> {
    let lookup = |what, source| PrivilegeError::Lookup {
        what,
        name: user.to_owned(),
        source,
    };
    // A passwd entry gives the name, the uid and the primary gid at once.
    let (name, uid, primary_gid) =
        if let Some(entry) = User::from_name(user).map_err(|e| lookup("user", e))? {
            (entry.name, entry.uid, Some(entry.gid))
        } else if let Some(raw) = numeric_id(user) {
            let uid = Uid::from_raw(raw);
            match User::from_uid(uid).map_err(|e| lookup("user", e))? {
                Some(entry) => (entry.name, uid, Some(entry.gid)),
                // A bare number with no entry: valid for the kernel, which only
                // knows numbers, but it brings no primary group with it.
                None => (user.to_owned(), uid, None),
            }
        } else {
            return Err(PrivilegeError::UnknownUser(user.to_owned()));
        };

    let gid = match group {
        Some(group) => resolve_group(group)?,
        None => primary_gid.ok_or(PrivilegeError::NoPrimaryGroup(uid.as_raw()))?,
    };
    Ok(Identity {
        user: name,
        uid,
        gid,
    })
}

/// A group name, or failing that a numeric gid, to a [`Gid`].
fn resolve_group(group: &str) -> Result<Gid, PrivilegeError> {
    let lookup = |source| PrivilegeError::Lookup {
        what: "group",
        name: group.to_owned(),
        source,
    };
    if let Some(entry) = Group::from_name(group).map_err(lookup)? {
        return Ok(entry.gid);
    }
    // Unlike a uid, a gid needs nothing from its entry: the number will do.
    numeric_id(group)
        .map(Gid::from_raw)
        .ok_or_else(|| PrivilegeError::UnknownGroup(group.to_owned()))
}

/// A decimal id, if `text` is one and is usable.
///
/// `u32::MAX` is `(uid_t)-1`, which `chown` reads as "leave unchanged" and
/// `setuid` rejects, so it is not an id anyone can run as.
fn numeric_id(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|&id| id != u32::MAX)
}

/// Give the target user the paths that must stay writable after the drop.
///
/// Pass the open log files *and the directory holding them* (rotation
/// renames the live file and creates a fresh one there), and the session
/// and upload directories. Paths that do not exist are skipped with a
/// warning: this function never creates anything. Nothing is recursive.
///
/// The log directory should be the server's own (`/var/log/stepwise/`),
/// never a shared one like `/var/log`: handing that to `nobody` would let a
/// compromised server rewrite every other program's logs.
///
/// A path from a previous run may already belong to the unprivileged user,
/// who could have replaced `access.log` with a symlink to `/etc/shadow`;
/// a plain `chown` as root would follow it and give the password file away.
/// So symlinks are refused, only regular files and directories are
/// accepted, a file with a second hard link is refused, and the owner is
/// changed through a descriptor opened with `O_NOFOLLOW` (checked to be the
/// same inode), so nothing can be swapped in between the check and the
/// change.
///
/// # Errors
///
/// [`PrivilegeError::UnsafePath`] for a symlink, a special file or a
/// multiply linked file; [`PrivilegeError::Io`] if a path cannot be
/// examined, opened or chowned. The first failure stops the loop.
pub fn prepare_paths(identity: &Identity, paths: &[PathBuf]) -> Result<(), PrivilegeError> {
    for path in paths {
        let io_error = |action| {
            move |source| PrivilegeError::Io {
                action,
                path: path.clone(),
                source,
            }
        };
        let unsafe_path = |reason| PrivilegeError::UnsafePath {
            path: path.clone(),
            reason,
        };

        // lstat, not stat: we want to see a symlink, not where it leads.
        let before = match fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::warn!(
                    path = %path.display(),
                    "not chowning a missing path: after the drop the server may be unable to create it"
                );
                continue;
            }
            Err(e) => return Err(io_error("examine")(e)),
        };
        let kind = before.file_type();
        if kind.is_symlink() {
            return Err(unsafe_path("it is a symlink; name its target instead"));
        }
        // Refusing FIFOs and devices before opening matters: opening a tape
        // device or a FIFO can block or have side effects.
        if !kind.is_file() && !kind.is_dir() {
            return Err(unsafe_path(
                "only regular files and directories are chowned",
            ));
        }

        // O_NOFOLLOW makes the open fail if a symlink appeared since the
        // lstat; O_NONBLOCK keeps a FIFO swapped in from blocking us.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
            .open(path)
            .map_err(io_error("open"))?;
        let opened = file.metadata().map_err(io_error("examine"))?;
        if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
            return Err(unsafe_path("it was replaced while being checked"));
        }
        // A second name for a regular file may be a hard link to something
        // of root's (`fs.protected_hardlinks` usually prevents making one,
        // but we do not depend on it): chowning would give that away too.
        if opened.is_file() && opened.nlink() > 1 {
            return Err(unsafe_path("it has more than one hard link"));
        }

        fchown(&file, identity).map_err(io_error("chown"))?;
        tracing::debug!(path = %path.display(), user = %identity.user, "chowned");
    }
    Ok(())
}

/// `fchown` the open file to the identity: the inode we checked, whatever
/// its name points at by now.
fn fchown(file: &File, identity: &Identity) -> io::Result<()> {
    std::os::unix::fs::fchown(
        file,
        Some(identity.uid.as_raw()),
        Some(identity.gid.as_raw()),
    )
}

// ANCHOR: drop_to
/// Switch the whole process to `identity` for good, then prove it.
///
/// Call this as root, after binding and [`prepare_paths`], and before any
/// thread starts. On `Err` the caller must exit: the process may be half
/// switched, and serving requests in that state is exactly the "grave
/// security error" that setuid(2) warns about.
///
/// # Errors
///
/// [`PrivilegeError::TargetIsRoot`] for uid or gid 0;
/// [`PrivilegeError::ThreadsRunning`] if another thread exists (nothing has
/// been changed then); [`PrivilegeError::Switch`] if `setgroups`, `setgid`
/// or `setuid` fails; and any failed check of the verification.
pub fn drop_to(identity: &Identity) -> Result<(), PrivilegeError> {
    ensure_single_threaded()?;
    drop_without_thread_check(identity)
}

/// The drop itself, for [`drop_to`] once it knows no other thread runs.
///
/// Separate only so that the unit test can run it inside the test harness,
/// whose main thread waits on the test's thread. That is safe there because
/// glibc's wrappers change every thread and the verification reads each
/// thread's status. Production code has no way to call it.
fn drop_without_thread_check(identity: &Identity) -> Result<(), PrivilegeError> {
    // Checked before any call: "dropping" to root would succeed at every
    // step and change nothing.
    if identity.uid.is_root() {
        return Err(PrivilegeError::TargetIsRoot { what: "uid" });
    }
    if identity.gid.as_raw() == 0 {
        return Err(PrivilegeError::TargetIsRoot { what: "gid" });
    }
    let (uid, gid) = (identity.uid, identity.gid);

    // 1. Supplementary groups first. root's list (often just group 0) would
    //    survive setuid, and once we are not root, setgroups fails with
    //    EPERM. An empty list, not initgroups(): the server needs no groups
    //    beyond its own, and each one would widen what it can read.
    setgroups(&[]).map_err(switch("setgroups([])".to_owned()))?;
    // 2. The gid, while we still have the right to change it.
    setgid(gid).map_err(switch(format!("setgid({gid})")))?;
    // 3. The uid, last. As root, setuid sets real, effective and saved uid
    //    (and the filesystem uid), and the kernel clears the capability
    //    sets: there is no way back.
    setuid(uid).map_err(switch(format!("setuid({uid})")))?;

    verify(identity)?;
    tracing::info!(user = %identity.user, %uid, %gid, "dropped root privileges");
    Ok(())
}
// ANCHOR_END: drop_to

/// Map a failed switching call to [`PrivilegeError::Switch`].
fn switch(call: String) -> impl FnOnce(Errno) -> PrivilegeError {
    move |source| PrivilegeError::Switch { call, source }
}

/// Refuse to go on if this process has more than one thread.
///
/// `/proc/self/task` has one entry per thread. The count can only go up if
/// this thread starts another, so a count of one is still true when the
/// switching calls run.
fn ensure_single_threaded() -> Result<(), PrivilegeError> {
    let count = thread_count()?;
    if count > 1 {
        return Err(PrivilegeError::ThreadsRunning(count));
    }
    Ok(())
}

/// How many threads this process has, from `/proc/self/task`.
fn thread_count() -> Result<usize, PrivilegeError> {
    let tasks = Path::new("/proc/self/task");
    let io_error = |source| PrivilegeError::Io {
        action: "read",
        path: tasks.to_owned(),
        source,
    };
    let mut count = 0;
    for entry in fs::read_dir(tasks).map_err(io_error)? {
        entry.map_err(io_error)?;
        count += 1;
    }
    Ok(count)
}

// ANCHOR: verify
/// Check, three independent ways, that the drop happened and cannot be
/// undone.
fn verify(identity: &Identity) -> Result<(), PrivilegeError> {
    let (uid, gid) = (identity.uid, identity.gid);

    // 1. What the C library reports. The *saved* id is the one that matters
    //    most: if it were still 0, seteuid(0) would bring root right back.
    let ResUid {
        real,
        effective,
        saved,
    } = getresuid().map_err(switch("getresuid".to_owned()))?;
    if [real, effective, saved] != [uid; 3] || uid.is_root() {
        return Err(unverified(
            "getresuid",
            format!("real {real}, effective {effective}, saved {saved}; expected {uid}"),
        ));
    }
    let ResGid {
        real,
        effective,
        saved,
    } = getresgid().map_err(switch("getresgid".to_owned()))?;
    if [real, effective, saved] != [gid; 3] || gid.as_raw() == 0 {
        return Err(unverified(
            "getresgid",
            format!("real {real}, effective {effective}, saved {saved}; expected {gid}"),
        ));
    }

    // 2. Try to get root back. Each attempt must fail, and with EPERM: any
    //    other error means we do not know why it failed. (If one succeeded,
    //    we are root again, and the caller's abort is all that is left.)
    let root_uid = Uid::from_raw(0);
    let root_gid = Gid::from_raw(0);
    expect_eperm("setuid(0)", setuid(root_uid))?;
    expect_eperm("seteuid(0)", seteuid(root_uid))?;
    expect_eperm("setgid(0)", setgid(root_gid))?;
    expect_eperm("setgroups([0])", setgroups(&[root_gid]))?;

    // 3. The kernel's own view, which includes what getres*id cannot show:
    //    the filesystem ids, the supplementary groups and the capabilities.
    //    /proc/self/status is the main thread; each /proc/self/task/<tid>
    //    is one thread. In production there is one thread and the two are
    //    the same file; under the test harness this proves that glibc
    //    changed the waiting main thread too.
    check_status(Path::new("/proc/self/status"), identity)?;
    let tasks = Path::new("/proc/self/task");
    let entries = fs::read_dir(tasks).map_err(|source| PrivilegeError::Io {
        action: "read",
        path: tasks.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| PrivilegeError::Io {
            action: "read",
            path: tasks.to_owned(),
            source,
        })?;
        check_status(&entry.path().join("status"), identity)?;
    }
    Ok(())
}

/// Fail unless `result` is the EPERM of a refused attempt to regain root.
fn expect_eperm(call: &'static str, result: nix::Result<()>) -> Result<(), PrivilegeError> {
    match result {
        Err(Errno::EPERM) => Ok(()),
        Ok(()) => Err(PrivilegeError::RootRegainable {
            call,
            outcome: "it succeeded".to_owned(),
        }),
        Err(other) => Err(PrivilegeError::RootRegainable {
            call,
            outcome: format!("failed with {other} instead"),
        }),
    }
}

/// Read one `status` file and check it against the identity.
fn check_status(path: &Path, identity: &Identity) -> Result<(), PrivilegeError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        // A thread that exited since read_dir holds no credentials.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(PrivilegeError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            });
        }
    };
    let found = parse_status(&text);
    let at = |line: &str| format!("{line} in {}", path.display());
    let (uid, gid) = (identity.uid.as_raw(), identity.gid.as_raw());

    // Real, effective, saved and filesystem ids: all four the target.
    if found.uids != Some([uid; 4]) {
        return Err(unverified(
            at("Uid:"),
            format!("{:?}, expected {uid} four times", found.uids),
        ));
    }
    if found.gids != Some([gid; 4]) {
        return Err(unverified(
            at("Gid:"),
            format!("{:?}, expected {gid} four times", found.gids),
        ));
    }
    if found.groups.as_deref() != Some(&[]) {
        return Err(unverified(
            at("Groups:"),
            format!("{:?}, expected none", found.groups),
        ));
    }
    // No effective capabilities, and none permitted either: a permitted
    // capability could be raised into the effective set again.
    if found.cap_eff != Some(0) {
        return Err(unverified(
            at("CapEff:"),
            format!("{:x?}, expected 0", found.cap_eff),
        ));
    }
    if found.cap_prm != Some(0) {
        return Err(unverified(
            at("CapPrm:"),
            format!("{:x?}, expected 0", found.cap_prm),
        ));
    }
    Ok(())
}

/// A [`PrivilegeError::Unverified`] for one check.
fn unverified(check: impl Into<String>, detail: String) -> PrivilegeError {
    PrivilegeError::Unverified {
        check: check.into(),
        detail,
    }
}
// ANCHOR_END: verify

/// The credentials in a `/proc/<pid>/status` file, as the kernel shows them.
///
/// A field is `None` when its line is missing or does not parse, which no
/// verification accepts: a check that cannot read its evidence must fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcCredentials {
    /// `Uid:` real, effective, saved and filesystem uid.
    pub uids: Option<[u32; 4]>,
    /// `Gid:` real, effective, saved and filesystem gid.
    pub gids: Option<[u32; 4]>,
    /// `Groups:` the supplementary groups (empty after a proper drop).
    pub groups: Option<Vec<u32>>,
    /// `CapEff:` the capabilities in force, a bit mask.
    pub cap_eff: Option<u64>,
    /// `CapPrm:` the capabilities this thread could raise into `CapEff`.
    pub cap_prm: Option<u64>,
}

/// Parse the credential lines of a `/proc/<pid>/status` file.
///
/// Each line is `Name:` and whitespace-separated values (the kernel uses
/// tabs, and writes `Groups:\t \n` for an empty list). Ids are decimal,
/// capability masks hexadecimal. Other lines are ignored.
pub fn parse_status(text: &str) -> ProcCredentials {
    let mut found = ProcCredentials::default();
    for line in text.lines() {
        let Some((key, values)) = line.split_once(':') else {
            continue;
        };
        let values = values.split_whitespace();
        match key {
            "Uid" => found.uids = four_ids(values),
            "Gid" => found.gids = four_ids(values),
            "Groups" => found.groups = values.map(|v| v.parse().ok()).collect(),
            "CapEff" => found.cap_eff = single_hex(values),
            "CapPrm" => found.cap_prm = single_hex(values),
            _ => {}
        }
    }
    found
}

/// Exactly four decimal ids, or `None`.
fn four_ids<'a>(values: impl Iterator<Item = &'a str>) -> Option<[u32; 4]> {
    let ids: Vec<u32> = values.map(|v| v.parse().ok()).collect::<Option<_>>()?;
    ids.try_into().ok()
}

/// Exactly one hexadecimal mask, or `None`.
fn single_hex<'a>(mut values: impl Iterator<Item = &'a str>) -> Option<u64> {
    let mask = u64::from_str_radix(values.next()?, 16).ok()?;
    values.next().is_none().then_some(mask)
}

/// Say so, loudly, when the server runs as root with no `user` to drop to.
///
/// Not an error: a developer may run it as root on purpose. But then every
/// request, CGI script and PHP page runs as root, and one bug in any of
/// them hands over the whole machine.
pub fn warn_if_root_without_user(user: Option<&str>) {
    if geteuid().is_root() && user.is_none() {
        tracing::warn!(
            "running as root with no server.user configured: every request, CGI \
             script and PHP page will run as root, so any bug in them gives away \
             the whole machine. Set server.user (for example \"nobody\", or better \
             a dedicated account) so the server drops privileges after binding"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use super::*;

    /// What the kernel printed for root in this project's container.
    const ROOT_STATUS: &str = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\n\
        Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t \n\
        CapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\n\
        CapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n\
        CapAmb:\t0000000000000000\nNoNewPrivs:\t0\n";

    /// What it printed under `setpriv --reuid=65534 --regid=65534 --clear-groups`.
    const NOBODY_STATUS: &str = "Name:\tcat\nUid:\t65534\t65534\t65534\t65534\n\
        Gid:\t65534\t65534\t65534\t65534\nFDSize:\t64\nGroups:\t \n\
        CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
        CapEff:\t0000000000000000\nCapBnd:\t000001fffeffffff\n";

    #[test]
    fn parse_status_reads_root() {
        let found = parse_status(ROOT_STATUS);
        assert_eq!(found.uids, Some([0; 4]));
        assert_eq!(found.gids, Some([0; 4]));
        assert_eq!(found.groups, Some(vec![]));
        assert_eq!(found.cap_eff, Some(0x1ff_feff_ffff));
        assert_eq!(found.cap_prm, Some(0x1ff_feff_ffff));
    }

    #[test]
    fn parse_status_reads_a_dropped_process() {
        assert_eq!(
            parse_status(NOBODY_STATUS),
            ProcCredentials {
                uids: Some([65534; 4]),
                gids: Some([65534; 4]),
                groups: Some(vec![]),
                cap_eff: Some(0),
                cap_prm: Some(0),
            }
        );
    }

    #[test]
    fn parse_status_reads_supplementary_groups_and_mixed_ids() {
        let found = parse_status("Uid:\t1000\t0\t0\t1000\nGroups:\t4 24 27 1000 \n");
        // A half-dropped process: the saved uid 0 is how root comes back.
        assert_eq!(found.uids, Some([1000, 0, 0, 1000]));
        assert_eq!(found.groups, Some(vec![4, 24, 27, 1000]));
    }

    #[test]
    fn parse_status_gives_none_for_missing_or_garbled_lines() {
        // Missing lines must not read as "empty groups" or "no capabilities".
        assert_eq!(parse_status("Name:\tcat\n"), ProcCredentials::default());
        let garbled = parse_status(
            "Uid:\t1\t2\t3\nGid:\t1\t2\t3\t4\t5\nGroups:\t1 x\nCapEff:\tzz\nCapPrm:\t0 0\n",
        );
        assert_eq!(garbled, ProcCredentials::default());
    }

    #[test]
    fn parse_status_reads_this_process() {
        let text = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        let found = parse_status(&text);
        let me = getresuid().expect("getresuid");
        let uids = found.uids.expect("a Uid: line");
        assert_eq!(
            &uids[..3],
            &[me.real, me.effective, me.saved].map(Uid::as_raw)
        );
        assert!(found.groups.is_some() && found.cap_eff.is_some());
    }

    #[test]
    fn resolve_root_by_name_and_by_number() {
        let expected = Identity {
            user: "root".to_owned(),
            uid: Uid::from_raw(0),
            gid: Gid::from_raw(0),
        };
        assert_eq!(resolve("root", None).expect("root"), expected);
        // A number with a passwd entry takes its name and primary group.
        assert_eq!(resolve("0", None).expect("uid 0"), expected);
    }

    #[test]
    fn resolve_a_numeric_id_without_an_entry() {
        let identity = resolve("3999999999", Some("3999999998")).expect("numeric ids");
        assert_eq!(identity.user, "3999999999");
        assert_eq!(identity.uid, Uid::from_raw(3_999_999_999));
        assert_eq!(identity.gid, Gid::from_raw(3_999_999_998));
        // Without an entry there is no primary group to fall back on.
        assert!(matches!(
            resolve("3999999999", None),
            Err(PrivilegeError::NoPrimaryGroup(3_999_999_999))
        ));
        // (uid_t)-1 means "unchanged" to chown: not an id.
        assert!(matches!(
            resolve("4294967295", Some("0")),
            Err(PrivilegeError::UnknownUser(_))
        ));
    }

    #[test]
    fn resolve_names_what_is_missing() {
        let error = resolve("no-such-user-stepwise", None).expect_err("missing user");
        assert!(matches!(&error, PrivilegeError::UnknownUser(u) if u == "no-such-user-stepwise"));
        assert!(error.to_string().contains("no-such-user-stepwise"));

        let error = resolve("root", Some("no-such-group-stepwise")).expect_err("missing group");
        assert!(matches!(&error, PrivilegeError::UnknownGroup(g) if g == "no-such-group-stepwise"));
        assert!(error.to_string().contains("no-such-group-stepwise"));
    }

    #[test]
    fn drop_to_refuses_root_before_touching_anything() {
        // Safe to run in the harness even as root: the refusal comes before
        // any switching call (and the thread check would stop it anyway).
        let to_root = resolve("root", None).expect("root");
        assert!(matches!(
            drop_without_thread_check(&to_root),
            Err(PrivilegeError::TargetIsRoot { what: "uid" })
        ));
        let root_group = Identity {
            gid: Gid::from_raw(0),
            ..resolve("3999999999", Some("1")).expect("numeric")
        };
        assert!(matches!(
            drop_without_thread_check(&root_group),
            Err(PrivilegeError::TargetIsRoot { what: "gid" })
        ));
    }

    #[test]
    fn the_test_harness_is_not_single_threaded() {
        // libtest runs this test on a thread of its own, so the check that
        // guards drop_to must see at least two.
        assert!(thread_count().expect("count") >= 2);
        assert!(matches!(
            ensure_single_threaded(),
            Err(PrivilegeError::ThreadsRunning(n)) if n >= 2
        ));
    }

    /// The identity this process may chown to: `nobody` as root (so the
    /// owner really changes), else ourselves (the only owner allowed).
    fn chown_target() -> Identity {
        if geteuid().is_root() {
            Identity {
                user: "65534".to_owned(),
                uid: Uid::from_raw(65534),
                gid: Gid::from_raw(65534),
            }
        } else {
            Identity {
                user: "me".to_owned(),
                uid: geteuid(),
                gid: nix::unistd::getegid(),
            }
        }
    }

    #[test]
    fn prepare_paths_chowns_files_and_directories_and_skips_missing_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        fs::create_dir(&logs).expect("mkdir");
        let log = logs.join("access.log");
        fs::write(&log, "").expect("create log");
        let missing = dir.path().join("sessions");

        let target = chown_target();
        prepare_paths(&target, &[log.clone(), logs.clone(), missing.clone()]).expect("prepare");
        for path in [&log, &logs] {
            let metadata = fs::metadata(path).expect("stat");
            assert_eq!(
                (metadata.uid(), metadata.gid()),
                (target.uid.as_raw(), target.gid.as_raw())
            );
        }
        assert!(!missing.exists(), "prepare_paths must not create anything");
    }

    #[test]
    fn prepare_paths_refuses_symlinks_and_hard_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("shadow");
        fs::write(&secret, "root's").expect("create");
        let target = chown_target();

        let link = dir.path().join("access.log");
        std::os::unix::fs::symlink(&secret, &link).expect("symlink");
        let error = prepare_paths(&target, &[link]).expect_err("symlink");
        assert!(
            matches!(error, PrivilegeError::UnsafePath { .. }),
            "{error}"
        );

        let hard = dir.path().join("error.log");
        fs::hard_link(&secret, &hard).expect("hard link");
        let error = prepare_paths(&target, &[hard]).expect_err("hard link");
        assert!(
            matches!(error, PrivilegeError::UnsafePath { .. }),
            "{error}"
        );

        // Neither attempt touched the file behind the links.
        let metadata = fs::metadata(&secret).expect("stat");
        assert_eq!(metadata.uid(), geteuid().as_raw());
    }

    #[test]
    fn raise_nofile_limit_reaches_the_hard_limit() {
        let (old, new) = raise_nofile_limit().expect("raise");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert!(old <= new);
        assert_eq!((new, soft), (hard, hard));
    }

    /// Set in the child process: the directory where the parent left a
    /// root-owned log for the child to test.
    const CHILD_ENV: &str = "STEPWISE_PRIVILEGES_DROP_CHILD";

    /// What the child prints once everything held, so the parent knows the
    /// test really ran (libtest exits 0 when a filter matches nothing).
    const CHILD_DONE: &str = "privileges child: dropped and verified";

    // The real drop, in two halves. Run as root, this test re-executes the
    // test binary with only itself selected and CHILD_ENV set; in that child
    // process it takes the other branch and drops privileges for good. The
    // harness running all the other tests stays root.
    #[test]
    fn real_drop_in_a_child_process() {
        match std::env::var_os(CHILD_ENV) {
            Some(dir) => drop_in_child(Path::new(&dir)),
            None => run_child(),
        }
    }

    /// `nobody`, with `nogroup` where it exists (Debian) and otherwise
    /// nobody's own primary group (Fedora's `nobody` group).
    fn nobody() -> Option<Identity> {
        resolve("nobody", Some("nogroup"))
            .or_else(|_| resolve("nobody", None))
            .ok()
    }

    fn run_child() {
        if !geteuid().is_root() {
            eprintln!("skipped: the real privilege drop needs root (geteuid() != 0)");
            return;
        }
        let Some(nobody) = nobody() else {
            eprintln!("skipped: there is no `nobody` user to drop to");
            return;
        };

        // A root-owned 0644 log in a directory anyone may enter: the child
        // can keep writing it through a descriptor opened before the drop,
        // but not reopen it by name afterwards (§7).
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let log = dir.path().join("access.log");
        fs::write(&log, "").expect("create log");
        fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).expect("chmod log");

        // libtest names a test by its path without the crate name.
        let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
        let name = format!("{module}::real_drop_in_a_child_process");
        let output = Command::new(std::env::current_exe().expect("current_exe"))
            .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "child failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
        assert!(
            stdout.contains(CHILD_DONE),
            "the child did not run the drop:\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains(&format!("uid {} gid {}", nobody.uid, nobody.gid)));
        let written = fs::read_to_string(&log).expect("read log");
        assert_eq!(written, "written after the drop\n");
    }

    fn drop_in_child(dir: &Path) {
        let nobody = nobody().expect("the parent found nobody");
        let log_path = dir.join("access.log");
        let mut log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .expect("open the log as root");

        // Give root a supplementary group, as a login shell would, so the
        // drop has one to clear (a container's root often has none).
        setgroups(&[Gid::from_raw(0)]).expect("setgroups as root");

        // libtest runs even a single test on a thread of its own while its
        // main thread waits, so the production entry point must refuse,
        // and must have changed nothing.
        let threads = thread_count().expect("count threads");
        if threads > 1 {
            assert!(matches!(
                drop_to(&nobody),
                Err(PrivilegeError::ThreadsRunning(n)) if n == threads
            ));
            assert!(geteuid().is_root(), "a refused drop must change nothing");
            // The waiting main thread does nothing privileged, and verify()
            // checks every thread's status, so the unchecked drop is sound
            // here.
            drop_without_thread_check(&nobody).expect("drop privileges");
        } else {
            drop_to(&nobody).expect("drop privileges");
        }

        // The promise of setuid(2), checked once more by hand.
        assert_eq!(setuid(Uid::from_raw(0)), Err(Errno::EPERM));
        assert_eq!(geteuid(), nobody.uid);

        // A descriptor opened as root still works; the name no longer does.
        log.write_all(b"written after the drop\n")
            .expect("write through the old fd");
        let reopen = OpenOptions::new().append(true).open(&log_path);
        assert_eq!(
            reopen.map(drop).map_err(|e| e.kind()),
            Err(io::ErrorKind::PermissionDenied)
        );

        println!(
            "{CHILD_DONE} to uid {} gid {} ({threads} threads)",
            nobody.uid, nobody.gid
        );
    }
}
