//! The file store: one JSON file per session, written atomically and
//! locked with `flock`, in a directory several server processes can share.
//!
//! This is what PHP's default session handler does, with two things done
//! more carefully: writes never leave a half-written file, and old
//! sessions are swept (the servlet engine this server replaces never
//! tidied its session directory; it only grew).
//!
//! For a session `<id>` the directory holds:
//!
//! - `<id>.json` (mode 0600): the [`Record`]. It is replaced whole, never
//!   edited: the new version is written to a temporary file, flushed, and
//!   `rename`d over the old one, which POSIX makes atomic, so a reader (or
//!   a crash) sees the old record or the new one, never half of each.
//!   Its **mtime is the session's last access**: saving sets it, and a
//!   request that only reads the session sets it with one `futimens`
//!   instead of rewriting the file (see [`LockedSession::touch`]).
//! - `<id>.lock` (mode 0600, empty): the file `flock` locks. It is never
//!   renamed over, which is the point (see `FileStore::lock`).
//! - `.<id>.<random>.tmp`, for the few milliseconds of a save.
//!
//! **Who may delete what.** The data file is only created, replaced or
//! deleted by the holder of the session's lock, and the lock file is only
//! unlinked by its holder, who does so when the session has no data file
//! left (a logout, an expired session, an unknown id that was looked up):
//! made-up ids therefore leave nothing behind. The sweep takes each lock
//! without waiting, and skips sessions in use.
//!
//! Names are built only from a parsed [`SessionId`], so nothing a client
//! sends reaches a path. Files are still opened with `O_NOFOLLOW` and
//! checked to be regular files, and reads are bounded by
//! [`MAX_RECORD_BYTES`]: a symlink, a directory or a huge file planted in
//! the directory reads as a corrupt record, never as a hang or a crash.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use tracing::{debug, warn};

use super::id::SessionId;
use super::store::{
    LockedSession, MAX_RECORD_BYTES, Record, Result, SessionStore, StoreError, is_idle,
};

/// The shortest age at which the sweep removes a temporary file.
///
/// A save lives in its temporary file for milliseconds, so one that is
/// older than the idle timeout was left by a crash; the floor keeps a very
/// short timeout (as in tests) from deleting a save in progress.
const MIN_TEMP_AGE: Duration = Duration::from_secs(60);

/// Sessions kept as files in one directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    /// The session directory, mode 0700: session ids are secrets, and a
    /// directory others can list would hand them out.
    dir: PathBuf,
}

impl FileStore {
    /// A store in `dir`, created (mode 0700, with its parents) if missing.
    ///
    /// An existing directory is used as it is; if others can read it, a
    /// warning says so, since its file names are live session ids.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the directory cannot be created, or `dir`
    /// exists and is not a directory.
    pub fn new(dir: impl Into<PathBuf>) -> Result<FileStore> {
        let dir = dir.into();
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        let metadata = fs::metadata(&dir)?;
        if !metadata.is_dir() {
            return Err(io::Error::new(
                ErrorKind::NotADirectory,
                format!("{} is not a directory", dir.display()),
            )
            .into());
        }
        if metadata.permissions().mode() & 0o077 != 0 {
            warn!(
                dir = %dir.display(),
                "the session directory is open to other users, who can read session ids from it"
            );
        }
        Ok(FileStore { dir })
    }

    /// The session directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, id: &SessionId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn lock_path(&self, id: &SessionId) -> PathBuf {
        self.dir.join(format!("{id}.lock"))
    }

    // ANCHOR: lock
    /// Takes the exclusive lock of session `id`: waits for it if `wait`,
    /// otherwise returns `None` when another holder has it.
    ///
    /// Why a separate lock file? `flock` locks an *inode*, not a name. If
    /// we locked `<id>.json` itself, each save would `rename` a new inode
    /// over the name, and a request already waiting on the old inode
    /// would wake up holding a lock on a file nobody uses any more: it
    /// would read the old data through its descriptor and overwrite the
    /// newer save (a lost update), while the next request locked the new
    /// inode and ran at the same time as it. `<id>.lock` is never
    /// replaced, so the name always leads to the inode everyone locks.
    ///
    /// Why `flock` and not `fcntl` record locks? `fcntl` locks belong to
    /// the *process*: two threads of one server would both "hold" the
    /// lock, and closing any descriptor of the file would drop it.
    /// `flock` locks belong to the open file description, so every
    /// `open` here (one per request) excludes every other, across threads
    /// and processes alike.
    ///
    /// One race remains: the lock file *is* unlinked, by whoever holds the
    /// lock, when the session is gone (see the module header). A request
    /// that opened the old lock file just before that wakes up holding
    /// a lock on an unlinked inode. So, once locked, we check that the
    /// name still leads to the inode we hold, and start again if not.
    fn lock(&self, id: &SessionId, wait: bool) -> Result<Option<Flock<File>>> {
        let path = self.lock_path(id);
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                // A symlink planted at the name must not lead us elsewhere;
                // O_NONBLOCK keeps a FIFO planted there from hanging the open.
                .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
                .open(&path)?;
            if !file.metadata()?.is_file() {
                // (The message leaves out the path: it holds the id, and
                // errors end up in logs.)
                return Err(StoreError::Corrupt(
                    "the lock file is not a regular file".into(),
                ));
            }
            let arg = if wait {
                FlockArg::LockExclusive
            } else {
                FlockArg::LockExclusiveNonblock
            };
            let locked = match Flock::lock(file, arg) {
                Ok(locked) => locked,
                Err((_, Errno::EWOULDBLOCK)) if !wait => return Ok(None),
                // A signal interrupted the wait: wait again.
                Err((_, Errno::EINTR)) => continue,
                Err((_, errno)) => return Err(io::Error::from(errno).into()),
            };
            let held = locked.metadata()?;
            match fs::symlink_metadata(&path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(Some(locked));
                }
                // Unlinked (or unlinked and created anew) while we waited:
                // dropping `locked` releases the dead inode; try again.
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    // ANCHOR_END: lock

    /// Sweeps one session: deletes it if it is idle and not in use.
    /// Returns whether a session was deleted.
    fn sweep_one(&self, id: &SessionId, idle: Duration, now: SystemTime) -> Result<bool> {
        let Some(lock) = self.lock(id, false)? else {
            return Ok(false); // in use, so not idle
        };
        let session = FileSession {
            data: self.data_path(id),
            lock_path: self.lock_path(id),
            _lock: lock,
        };
        // `symlink_metadata`, so a planted symlink is judged (and deleted)
        // as itself, not by what it points to.
        let expired = match fs::symlink_metadata(&session.data) {
            Ok(metadata) => is_idle(metadata.modified()?, idle, now),
            Err(error) if error.kind() == ErrorKind::NotFound => false,
            Err(error) => return Err(error.into()),
        };
        if expired {
            remove_entry(&session.data)?;
        }
        // Dropping the handle unlinks the lock file if no data file is
        // left (an expired session, or a lock file orphaned by a crash),
        // then unlocks.
        Ok(expired)
    }
}

impl SessionStore for FileStore {
    fn open(&self, id: &SessionId) -> Result<Box<dyn LockedSession>> {
        // Told to wait, `lock` never returns `None`; if it somehow did,
        // that is an error to report, not a reason to panic.
        let lock = self.lock(id, true)?.ok_or_else(|| {
            StoreError::Io(io::Error::new(ErrorKind::WouldBlock, "session lock busy"))
        })?;
        Ok(Box::new(FileSession {
            data: self.data_path(id),
            lock_path: self.lock_path(id),
            _lock: lock,
        }))
    }

    fn sweep(&self, idle: Duration, now: SystemTime) -> Result<usize> {
        // Collect first, then lock and delete: the listing is not disturbed
        // by our own deletions, and each id is visited once even though it
        // has two or three files.
        let mut ids = std::collections::BTreeSet::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            // Names that are not UTF-8 are not ours: leave them alone.
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && name.ends_with(".tmp") {
                remove_stale_temp(&entry.path(), idle, now);
                continue;
            }
            let stem = name
                .strip_suffix(".json")
                .or_else(|| name.strip_suffix(".lock"));
            if let Some(id) = stem.and_then(SessionId::parse) {
                ids.insert(id);
            }
        }
        let mut deleted = 0;
        for id in ids {
            match self.sweep_one(&id, idle, now) {
                Ok(true) => deleted += 1,
                Ok(false) => {}
                // One bad entry must not stop the sweep of the others.
                Err(error) => warn!(session = %id.short(), %error, "cannot sweep a session"),
            }
        }
        Ok(deleted)
    }
}

/// Removes the temporary file at `path` if it is older than the idle
/// timeout (and [`MIN_TEMP_AGE`]): it was left by a save that crashed.
fn remove_stale_temp(path: &Path, idle: Duration, now: SystemTime) {
    let stale = fs::symlink_metadata(path)
        .and_then(|metadata| metadata.modified())
        .is_ok_and(|modified| is_idle(modified, idle.max(MIN_TEMP_AGE), now));
    if stale && let Err(error) = fs::remove_file(path) {
        debug!(path = %path.display(), %error, "cannot remove a stale temporary file");
    }
}

/// Removes the directory entry at `path`, whatever it is: a file, a
/// symlink (not its target), or an empty directory planted there.
/// Missing is fine.
fn remove_entry(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == ErrorKind::IsADirectory => fs::remove_dir(path),
        Err(error) => Err(error),
    }
}

/// One session of a [`FileStore`], locked.
struct FileSession {
    /// `<dir>/<id>.json`.
    data: PathBuf,
    /// `<dir>/<id>.lock`, the name that leads to the inode `lock` holds.
    lock_path: PathBuf,
    /// The lock, held until this handle drops.
    ///
    /// `Flock`'s own `Drop` unlocks; it would panic only if the kernel
    /// refused `LOCK_UN` on a descriptor we own, which it cannot (and
    /// closing the descriptor right after would release the lock anyway).
    _lock: Flock<File>,
}

impl FileSession {
    /// Opens the data file for reading, refusing anything but a regular
    /// file; `None` if there is none.
    fn open_data(&self) -> Result<Option<(File, fs::Metadata)>> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
            .open(&self.data)
        {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) if error.raw_os_error() == Some(Errno::ELOOP as i32) => {
                return Err(StoreError::Corrupt("the record is a symlink".into()));
            }
            Err(error) => return Err(error.into()),
        };
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(StoreError::Corrupt(
                "the record is not a regular file".into(),
            ));
        }
        Ok(Some((file, metadata)))
    }
}

impl LockedSession for FileSession {
    fn load(&mut self) -> Result<Option<Record>> {
        let Some((file, metadata)) = self.open_data()? else {
            return Ok(None);
        };
        // Read one byte past the limit: getting it means "too large"
        // without ever holding more than the limit (plus one) in memory,
        // whatever the file's size claims.
        let mut bytes = Vec::new();
        file.take(MAX_RECORD_BYTES as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(StoreError::Corrupt(format!(
                "the record is over {MAX_RECORD_BYTES} bytes"
            )));
        }
        let mut record: Record = serde_json::from_slice(&bytes)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        // The JSON holds the access time of the last save; the mtime, that
        // of the last touch too. The later one is the last access.
        record.accessed = record.accessed.max(metadata.modified()?);
        Ok(Some(record))
    }

    fn save(&mut self, record: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(record).map_err(io::Error::other)?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(StoreError::TooLarge(bytes.len()));
        }
        atomic_write(&self.data, &bytes, record.accessed)
    }

    fn touch(&mut self, now: SystemTime) -> Result<()> {
        let Some((file, _)) = self.open_data()? else {
            return Err(StoreError::Corrupt("no record to touch".into()));
        };
        // futimens(2) on the descriptor: one syscall and one inode update,
        // where a save would write, flush and rename a whole file. A
        // read-only descriptor is enough: setting times needs ownership,
        // not write access.
        file.set_modified(now)?;
        Ok(())
    }

    fn delete(&mut self) -> Result<()> {
        Ok(remove_entry(&self.data)?)
    }
}

impl Drop for FileSession {
    /// Unlinks the lock file if the session has no data file, then (as
    /// the fields drop) unlocks.
    ///
    /// Only the lock's holder may unlink the lock file, and it must do so
    /// *before* unlocking: a waiter then wakes on the unlinked inode,
    /// notices (see [`FileStore::lock`]) and starts again. Unlinking after
    /// unlocking could remove a lock file someone else had just locked.
    fn drop(&mut self) {
        let orphan = matches!(
            fs::symlink_metadata(&self.data),
            Err(error) if error.kind() == ErrorKind::NotFound
        );
        if orphan && let Err(error) = fs::remove_file(&self.lock_path) {
            debug!(path = %self.lock_path.display(), %error, "cannot remove a lock file");
        }
    }
}

// ANCHOR: atomic_write
/// Replaces the file at `target` with `bytes`, atomically, and sets its
/// mtime to `accessed`.
///
/// The bytes go to a new temporary file *in the same directory* (rename
/// cannot cross filesystems), created with `O_EXCL` (never an existing
/// file or a symlink someone planted) and mode 0600 from the start (not
/// chmod'ed afterwards, which would leave a window). Readers therefore see
/// the old record or the new one, never half of one.
///
/// There is no `fsync`. With one, every request that changes its session
/// waits for the disk — milliseconds, which would cap the server at a few
/// hundred such requests per second per disk. Without it, a power cut (not
/// a crash of the server: the kernel still has the data) can lose the last
/// updates, or leave a file whose data never reached the disk; such a file
/// reads as corrupt, and a corrupt session is replaced by a fresh one,
/// never an error. That is the bargain PHP's session files make too: a
/// session is a convenience, not a ledger.
fn atomic_write(target: &Path, bytes: &[u8], accessed: SystemTime) -> Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_stem()
        .map(|stem| stem.to_string_lossy())
        .unwrap_or_default();
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(StoreError::Random)?;
    let suffix: String = suffix.iter().map(|byte| format!("{byte:02x}")).collect();
    let temp = dir.join(format!(".{name}.{suffix}.tmp"));

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)?;
    let written = file
        .write_all(bytes)
        // After the last write, which would set the mtime itself.
        .and_then(|()| file.set_modified(accessed))
        .and_then(|()| fs::rename(&temp, target));
    if let Err(error) = written {
        // Leave no temporary file behind; the old record is untouched.
        let _ = fs::remove_file(&temp);
        return Err(error.into());
    }
    Ok(())
}
// ANCHOR_END: atomic_write

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Barrier, mpsc};
    use std::thread;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("sessions")).unwrap();
        (dir, store)
    }

    fn record(now: SystemTime, pairs: &[(&str, &str)]) -> Record {
        Record {
            created: now,
            accessed: now,
            data: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn names(store: &FileStore) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(store.dir())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// A time in whole seconds, as the JSON keeps it.
    fn whole_seconds(time: SystemTime) -> SystemTime {
        let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
    }

    fn save(store: &FileStore, id: &SessionId, record: &Record) {
        store.open(id).unwrap().save(record).unwrap();
    }

    #[test]
    fn new_creates_a_private_directory() {
        let (_dir, store) = store();
        assert_eq!(mode(store.dir()), 0o700);
        // A file where the directory should be is an error, not a panic.
        let file = store.dir().join("file");
        fs::write(&file, "x").unwrap();
        assert!(FileStore::new(&file).is_err());
    }

    #[test]
    fn a_saved_record_loads_back_and_files_are_private() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        let now = whole_seconds(SystemTime::now());
        let saved = record(now, &[("user", "ann"), ("n", "1")]);
        {
            let mut session = store.open(&id).unwrap();
            assert_eq!(session.load().unwrap(), None);
            session.save(&saved).unwrap();
            assert_eq!(mode(&store.lock_path(&id)), 0o600);
        }
        assert_eq!(names(&store), [format!("{id}.json"), format!("{id}.lock")]);
        assert_eq!(mode(&store.data_path(&id)), 0o600);
        assert_eq!(store.open(&id).unwrap().load().unwrap(), Some(saved));
    }

    #[test]
    fn saves_replace_the_file_and_leave_no_temporary_files() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        let now = whole_seconds(SystemTime::now());
        let mut session = store.open(&id).unwrap();
        session.save(&record(now, &[("n", "0")])).unwrap();
        // A reader that opened the file before the saves...
        let mut before = File::open(store.data_path(&id)).unwrap();
        for n in 1..=20 {
            session
                .save(&record(now, &[("n", &n.to_string())]))
                .unwrap();
        }
        // ...still reads the whole old record: the file was replaced, not
        // rewritten under it.
        let mut old = String::new();
        before.read_to_string(&mut old).unwrap();
        assert!(old.contains(r#""n":"0""#), "{old}");
        assert_eq!(session.load().unwrap().unwrap().data["n"], "20".to_string());
        drop(session);
        assert_eq!(names(&store), [format!("{id}.json"), format!("{id}.lock")]);
    }

    #[test]
    fn a_record_over_the_limit_is_refused() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        let big = "x".repeat(MAX_RECORD_BYTES);
        let mut session = store.open(&id).unwrap();
        let result = session.save(&record(SystemTime::now(), &[("big", &big)]));
        assert!(matches!(result, Err(StoreError::TooLarge(_))));
        drop(session);
        assert!(names(&store).is_empty(), "{:?}", names(&store));
    }

    #[test]
    fn touch_moves_the_last_access_without_rewriting() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        let then = whole_seconds(SystemTime::now()) - Duration::from_secs(3600);
        save(&store, &id, &record(then, &[("a", "1")]));
        let inode = fs::metadata(store.data_path(&id)).unwrap().ino();
        let later = then + Duration::from_secs(1800);
        let mut session = store.open(&id).unwrap();
        session.touch(later).unwrap();
        let loaded = session.load().unwrap().unwrap();
        assert_eq!(loaded.accessed, later);
        assert_eq!(loaded.created, then);
        assert_eq!(fs::metadata(store.data_path(&id)).unwrap().ino(), inode);
    }

    #[test]
    fn opening_an_unknown_id_leaves_nothing_behind() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        {
            let mut session = store.open(&id).unwrap();
            assert_eq!(session.load().unwrap(), None);
        }
        assert!(names(&store).is_empty(), "{:?}", names(&store));
    }

    #[test]
    fn delete_removes_both_files() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        save(&store, &id, &record(SystemTime::now(), &[("a", "1")]));
        let mut session = store.open(&id).unwrap();
        session.delete().unwrap();
        session.delete().unwrap(); // twice is fine
        drop(session);
        assert!(names(&store).is_empty(), "{:?}", names(&store));
    }

    /// Each of `threads` threads opens the session through its own store
    /// (`stores` of them, as separate server processes would) and adds one.
    fn increment_concurrently(stores: &[FileStore], threads: usize) -> u64 {
        let id = SessionId::random().unwrap();
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let store = stores[i % stores.len()].clone();
                let start = Arc::clone(&start);
                thread::spawn(move || {
                    start.wait();
                    let mut session = store.open(&id).unwrap();
                    let mut record = session
                        .load()
                        .unwrap()
                        .unwrap_or_else(|| Record::new(SystemTime::now()));
                    let n: u64 = record.data.get("n").map_or(0, |n| n.parse().unwrap());
                    record.data.insert("n".into(), (n + 1).to_string());
                    session.save(&record).unwrap();
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let loaded = stores[0].open(&id).unwrap().load().unwrap().unwrap();
        loaded.data["n"].parse().unwrap()
    }

    #[test]
    fn fifty_concurrent_increments_lose_none() {
        let (_dir, store) = store();
        assert_eq!(increment_concurrently(&[store], 50), 50);
    }

    #[test]
    fn two_stores_on_one_directory_lose_none() {
        let (_dir, store) = store();
        let other = FileStore::new(store.dir()).unwrap();
        assert_eq!(increment_concurrently(&[store, other], 50), 50);
    }

    #[test]
    fn a_waiter_whose_lock_file_was_unlinked_starts_again() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        save(&store, &id, &record(SystemTime::now(), &[("a", "1")]));
        let mut first = store.open(&id).unwrap();
        let (holding, release) = (mpsc::channel(), mpsc::channel::<()>());
        let waiter = {
            let store = store.clone();
            let (holding, release) = (holding.0, release.1);
            thread::spawn(move || {
                // Opens the current lock file, then waits on it.
                let mut session = store.open(&id).unwrap();
                assert_eq!(session.load().unwrap(), None);
                session
                    .save(&record(SystemTime::now(), &[("b", "2")]))
                    .unwrap();
                holding.send(()).unwrap();
                release.recv().unwrap();
            })
        };
        // Time for the waiter to block on the lock file (if it is slower,
        // it finds the new one and the retry goes unexercised, no more).
        thread::sleep(Duration::from_millis(100));
        // Logging out: the data file goes, and the drop unlinks the lock
        // file the waiter is blocked on.
        first.delete().unwrap();
        drop(first);
        holding.1.recv_timeout(Duration::from_secs(10)).unwrap();
        // The waiter started again on a new lock file, which it holds, so
        // the lock at the name is busy: both cannot hold the session.
        assert!(store.lock(&id, false).unwrap().is_none());
        release.0.send(()).unwrap();
        waiter.join().unwrap();
        let loaded = store.open(&id).unwrap().load().unwrap().unwrap();
        assert_eq!(loaded.data, BTreeMap::from([("b".into(), "2".into())]));
    }

    #[test]
    fn sweep_deletes_only_idle_sessions_and_skips_busy_ones() {
        let (_dir, store) = store();
        let now = SystemTime::now();
        let idle = Duration::from_secs(60);
        let old = now - Duration::from_secs(61);
        let [fresh, stale, busy] = [(); 3].map(|()| SessionId::random().unwrap());
        save(
            &store,
            &fresh,
            &record(now - Duration::from_secs(59), &[("a", "1")]),
        );
        save(&store, &stale, &record(old, &[("a", "1")]));
        save(&store, &busy, &record(old, &[("a", "1")]));
        let held = store.open(&busy).unwrap();
        assert_eq!(store.sweep(idle, now).unwrap(), 1);
        let mut expected = [
            format!("{busy}.json"),
            format!("{busy}.lock"),
            format!("{fresh}.json"),
            format!("{fresh}.lock"),
        ];
        expected.sort();
        assert_eq!(names(&store), expected);
        drop(held);
        // Released without touching, it is still idle: the next sweep
        // takes it.
        assert_eq!(store.sweep(idle, now).unwrap(), 1);
        assert_eq!(
            names(&store),
            [format!("{fresh}.json"), format!("{fresh}.lock")]
        );
    }

    #[test]
    fn sweep_removes_stale_temporary_and_orphan_lock_files_only() {
        let (_dir, store) = store();
        let now = SystemTime::now();
        let orphan = SessionId::random().unwrap();
        fs::write(store.lock_path(&orphan), "").unwrap();
        let temp = store.dir().join(".abc.0011223344556677.tmp");
        fs::write(&temp, "{").unwrap();
        fs::write(store.dir().join("README"), "not ours").unwrap();
        fs::write(store.dir().join("nothex.json"), "not ours").unwrap();
        // A temporary file is young for MIN_TEMP_AGE, whatever the timeout.
        store.sweep(Duration::from_secs(1), now).unwrap();
        assert!(temp.exists());
        let later = now + MIN_TEMP_AGE + Duration::from_secs(1);
        assert_eq!(store.sweep(Duration::from_secs(1), later).unwrap(), 0);
        assert_eq!(names(&store), ["README", "nothex.json"]);
    }

    /// Plants `content` where session `id`'s record belongs.
    fn plant(store: &FileStore, id: &SessionId, content: &str) {
        fs::write(store.data_path(id), content).unwrap();
    }

    fn load(store: &FileStore, id: &SessionId) -> Result<Option<Record>> {
        store.open(id).unwrap().load()
    }

    #[test]
    fn unreadable_records_are_corrupt_not_a_panic() {
        let (dir, store) = store();
        for content in [
            "",
            "garbage",
            "\u{0}\u{1}\u{2}",
            r#"{"created":1700000000,"accessed":17"#,
            r#"{"created":1700000000,"accessed":1700000000,"data":{"n":1}}"#,
            r#"[1,2,3]"#,
        ] {
            let id = SessionId::random().unwrap();
            plant(&store, &id, content);
            assert!(
                matches!(load(&store, &id), Err(StoreError::Corrupt(_))),
                "{content:?}"
            );
        }

        // A huge file, over the limit: refused without reading it all.
        let id = SessionId::random().unwrap();
        let file = File::create(store.data_path(&id)).unwrap();
        file.set_len(1 << 32).unwrap(); // sparse: 4 GiB on paper
        assert!(matches!(load(&store, &id), Err(StoreError::Corrupt(_))));

        // A directory where the file should be.
        let id = SessionId::random().unwrap();
        fs::create_dir(store.data_path(&id)).unwrap();
        assert!(matches!(load(&store, &id), Err(StoreError::Corrupt(_))));
        store.open(&id).unwrap().delete().unwrap();
        assert!(!store.data_path(&id).exists());

        // A symlink to a file outside: not followed.
        let id = SessionId::random().unwrap();
        let outside = dir.path().join("outside.json");
        fs::write(&outside, r#"{"created":0,"accessed":0,"data":{}}"#).unwrap();
        std::os::unix::fs::symlink(&outside, store.data_path(&id)).unwrap();
        assert!(matches!(load(&store, &id), Err(StoreError::Corrupt(_))));
        store.open(&id).unwrap().delete().unwrap();
        assert!(outside.exists(), "deleting the link deleted its target");

        // A FIFO: opening it must not hang.
        let id = SessionId::random().unwrap();
        nix::unistd::mkfifo(&store.data_path(&id), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(load(&store, &id), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_lock_file_that_is_not_a_file_is_an_error() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        fs::create_dir(store.lock_path(&id)).unwrap();
        assert!(store.open(&id).is_err());
        let id = SessionId::random().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", store.lock_path(&id)).unwrap();
        assert!(store.open(&id).is_err());
    }

    #[test]
    fn sessions_survive_a_restart() {
        let (_dir, store) = store();
        let id = SessionId::random().unwrap();
        let saved = record(whole_seconds(SystemTime::now()), &[("user", "ann")]);
        save(&store, &id, &saved);
        // A new store on the same directory, as a restarted server makes.
        let again = FileStore::new(store.dir()).unwrap();
        drop(store);
        assert_eq!(load(&again, &id).unwrap(), Some(saved));
    }
}
