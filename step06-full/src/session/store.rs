//! The session store interface: what [`Session`](super::Session) needs
//! from wherever sessions are kept.
//!
//! A store keeps one [`Record`] per [`SessionId`] and, the part that makes
//! it more than a map, a *lock* per session. [`SessionStore::open`] waits
//! for that lock and returns a [`LockedSession`] handle; the request then
//! loads, changes and saves the record while no other request, thread or
//! process can touch it, and dropping the handle lets the next one in.
//! That is what makes a read-modify-write (count a visit, add to a cart)
//! safe when a browser sends several requests with the same cookie at
//! once.
//!
//! Two stores implement it here: [`FileStore`](super::FileStore), the
//! default, one file per session in a directory that several server
//! processes may share; and [`MemoryStore`](super::MemoryStore), for tests
//! and single-process servers. A store shared by several machines (a
//! database, Redis) would be a third implementation of the same two
//! traits, and nothing in `Session` would change.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::id::SessionId;

/// The largest record a store reads or writes, in bytes (as JSON).
///
/// A session holds a login and a few preferences, kilobytes at most. The
/// bound is there for the reading side: a file planted in the session
/// directory, or a runaway application, must not make the server allocate
/// without limit.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operating system refused a file operation (disk full,
    /// permissions, a missing directory).
    #[error("session store: {0}")]
    Io(#[from] std::io::Error),
    /// A record exists but cannot be read back: not JSON, truncated, too
    /// large, or not a regular file. [`Session`](super::Session) logs it and
    /// starts a fresh session; it never reaches the client as an error.
    #[error("corrupt session record: {0}")]
    Corrupt(String),
    /// A record to save is larger than [`MAX_RECORD_BYTES`].
    #[error("session record of {0} bytes is larger than the limit of {MAX_RECORD_BYTES}")]
    TooLarge(usize),
    /// The operating system's random generator failed, so no id could be
    /// made. (`getrandom::Error` is not a `std` error without the crate's
    /// `std` feature, hence no `#[from]`.)
    #[error("the operating system's random generator failed: {0}")]
    Random(getrandom::Error),
}

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One session's data, as a store keeps it.
///
/// In JSON the times are whole seconds since the Unix epoch:
/// `{"created":1700000000,"accessed":1700000060,"data":{"user":"ann"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the session was first saved.
    #[serde(with = "unix_seconds")]
    pub created: SystemTime,
    /// When a request last used the session: what the idle timeout is
    /// measured from. A store may keep it apart from the data (the file
    /// store uses the file's mtime), so [`LockedSession::touch`] can update
    /// it without rewriting the record.
    #[serde(with = "unix_seconds")]
    pub accessed: SystemTime,
    /// The application's keys and values.
    pub data: BTreeMap<String, String>,
}

impl Record {
    /// An empty record, created and accessed `now`.
    pub fn new(now: SystemTime) -> Record {
        Record {
            created: now,
            accessed: now,
            data: BTreeMap::new(),
        }
    }

    /// Whether the session has been idle for `idle` or more at `now`.
    ///
    /// A last access in the future (a clock stepped back) counts as recent:
    /// better to keep a session a little longer than to log everyone out
    /// because the clock moved.
    pub fn is_expired(&self, idle: Duration, now: SystemTime) -> bool {
        is_idle(self.accessed, idle, now)
    }
}

/// Whether something last used at `accessed` has been idle for `idle` or
/// more at `now` (see [`Record::is_expired`]); the stores' sweeps use it
/// too, so a session expires at the same moment whoever looks.
pub(crate) fn is_idle(accessed: SystemTime, idle: Duration, now: SystemTime) -> bool {
    now.duration_since(accessed)
        .is_ok_and(|elapsed| elapsed >= idle)
}

/// The interface to where sessions are kept.
///
/// # Contract
///
/// - [`open`](SessionStore::open) *blocks* until the caller holds the
///   session's exclusive lock, and the lock lasts until the returned
///   handle is dropped. Exclusion must hold between threads, and between
///   processes for a store that several processes share. Callers on an
///   async runtime run sessions on a blocking thread (`spawn_blocking`).
/// - Opening an id that has no record is normal (an unknown or forged
///   cookie): `load` then returns `Ok(None)`, and if nothing is saved the
///   store keeps nothing for that id once the handle is dropped, so made-up
///   ids cannot fill the store.
/// - [`sweep`](SessionStore::sweep) deletes sessions idle for `idle` or
///   more, measured as [`Record::is_expired`] does, and *skips* sessions
///   whose lock is held: a session in use is not idle, and deleting it
///   would pull the record from under the request using it.
/// - Every method may be called from any thread, concurrently.
pub trait SessionStore: Send + Sync {
    /// Waits for the lock of session `id` and returns the handle that
    /// holds it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the lock cannot be taken (the store's
    /// directory is gone, a lock file is not a file).
    fn open(&self, id: &SessionId) -> Result<Box<dyn LockedSession>>;

    /// Deletes the sessions idle for `idle` or more at `now` that are not
    /// in use, and returns how many it deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the store cannot be listed; a session that
    /// cannot be deleted is skipped (and logged), not an error.
    fn sweep(&self, idle: Duration, now: SystemTime) -> Result<usize>;
}

/// One session, locked: the handle [`SessionStore::open`] returns.
///
/// Dropping it releases the lock and saves nothing: changes not passed to
/// [`save`](LockedSession::save) are lost, which is what a request that
/// panicked halfway should leave behind.
pub trait LockedSession: Send {
    /// The session's record, or `None` if it has none.
    ///
    /// The record's `accessed` is the last access, by
    /// [`save`](LockedSession::save) or [`touch`](LockedSession::touch).
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if a record exists but cannot be read
    /// back; [`StoreError::Io`] if it cannot be read at all.
    fn load(&mut self) -> Result<Option<Record>>;

    /// Replaces the record, atomically: anyone who loads it later (after
    /// a crash, too) finds the old record or the new one, never a mix.
    ///
    /// # Errors
    ///
    /// [`StoreError::TooLarge`] over [`MAX_RECORD_BYTES`];
    /// [`StoreError::Io`] if it cannot be written.
    fn save(&mut self, record: &Record) -> Result<()>;

    /// Records an access at `now` without changing the data.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the access time cannot be written;
    /// [`StoreError::Corrupt`] if the record is not there to touch.
    fn touch(&mut self, now: SystemTime) -> Result<()>;

    /// Deletes the record; deleting a record that is not there succeeds.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if it cannot be deleted.
    fn delete(&mut self) -> Result<()>;
}

/// `SystemTime` as whole seconds since the Unix epoch, for serde.
///
/// Seconds keep the records readable (`"accessed":1700000060`) and are
/// all an idle timeout measured in minutes needs. Times before 1970 are
/// written as 0.
mod unix_seconds {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        time: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let seconds = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        serializer.serialize_u64(seconds)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SystemTime, D::Error> {
        let seconds = u64::deserialize(deserializer)?;
        // A hostile record could hold u64::MAX, which overflows SystemTime.
        UNIX_EPOCH
            .checked_add(Duration::from_secs(seconds))
            .ok_or_else(|| serde::de::Error::custom("time out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_record_is_json_with_times_in_unix_seconds() {
        let mut record = Record::new(at(1_700_000_000));
        record.accessed = at(1_700_000_060);
        record.data.insert("user".into(), "ann".into());
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"created":1700000000,"accessed":1700000060,"data":{"user":"ann"}}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
    }

    #[test]
    fn times_out_of_range_are_refused_not_a_panic() {
        let json = format!(r#"{{"created":{},"accessed":0,"data":{{}}}}"#, u64::MAX);
        assert!(serde_json::from_str::<Record>(&json).is_err());
        let negative = r#"{"created":-1,"accessed":0,"data":{}}"#;
        assert!(serde_json::from_str::<Record>(negative).is_err());
    }

    #[test]
    fn a_record_expires_exactly_at_the_idle_timeout() {
        let record = Record::new(at(1000));
        let idle = Duration::from_secs(60);
        assert!(!record.is_expired(idle, at(1059)));
        assert!(record.is_expired(idle, at(1060)));
        // An access "in the future" (a clock stepped back) is recent.
        assert!(!record.is_expired(idle, at(10)));
    }
}
