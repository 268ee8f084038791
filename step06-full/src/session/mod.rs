//! Sessions: state that follows a browser from request to request.
//!
//! HTTP forgets each request as soon as it is answered; a session is how
//! an application remembers who it is talking to. The server hands the
//! browser a cookie holding a random [`SessionId`], and keeps a small map
//! of strings under that id in a [`SessionStore`]. Each request that
//! brings the cookie back gets its map again through a [`Session`].
//!
//! A `Session` is lazy: opening one costs nothing, and the store is only
//! consulted the first time the application reads or writes it, so pages
//! that never look at the session never touch the disk. On that first
//! access the cookie's value is checked (32 lowercase hex digits, nothing
//! else), the session is *locked* in the store, and its record loaded. A
//! session idle longer than the timeout is deleted and replaced by a fresh
//! one with a new id; so is one whose record is corrupt (logged, never an
//! error page). An unknown id is never adopted: the fresh session gets an
//! id of the server's making, so an attacker cannot plant a known id in a
//! victim's browser and wait for them to log in (session fixation).
//!
//! The lock is held until [`Session::finish`], so two requests of one
//! browser that both change the session take turns instead of overwriting
//! each other, as PHP's file sessions do. `finish` saves the map if it
//! changed (else it only records the access) and says which cookie, if
//! any, to send back. A background [sweeper](spawn_sweeper) deletes
//! sessions nobody came back for.
//!
//! # Layout
//!
//! - [`id`] — [`SessionId`]: 128 random bits, and the only spelling a
//!   cookie value may have.
//! - [`cookie`] — finding the cookie in `Cookie:`, writing `Set-Cookie:`.
//! - [`store`] — the [`SessionStore`] and [`LockedSession`] traits, the
//!   [`Record`], the errors.
//! - [`file_store`] — [`FileStore`], the default: a file per session,
//!   atomic writes, `flock` on a separate lock file.
//! - [`memory_store`] — [`MemoryStore`], a map, for tests and one process.
//! - [`sweeper`] — the thread that deletes expired sessions.
//! - this file — [`Session`], one request's view of its session.

pub mod cookie;
pub mod file_store;
pub mod id;
pub mod memory_store;
pub mod store;
pub mod sweeper;

pub use cookie::{CookieSettings, SetCookie};
pub use file_store::FileStore;
pub use id::SessionId;
pub use memory_store::MemoryStore;
pub use store::{LockedSession, Record, Result, SessionStore, StoreError};
pub use sweeper::{SweeperHandle, spawn_sweeper};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::{debug, warn};

use crate::access::error_line;
use crate::log::Log;

/// The idle timeout the servlet engine this server replaces used: a
/// session unused for an hour is over.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The session of one request.
///
/// Made by [`Session::open`] when the request arrives, used by the
/// application through [`get`](Session::get), [`set`](Session::set) and
/// the rest, and ended by [`finish`](Session::finish) before the response
/// goes out. Values are strings; an application that needs more stores
/// JSON in them.
///
/// The methods block (file I/O, and waiting for another request of the
/// same session to finish): on an async runtime, use a `Session` on a
/// blocking thread.
///
/// Dropping a `Session` without `finish` (the application panicked, say)
/// releases its lock and saves nothing.
///
/// One request's life, as the server's middleware lives it:
///
/// ```
/// use std::sync::Arc;
/// use std::time::SystemTime;
///
/// use step06_full::session::{
///     CookieSettings, DEFAULT_IDLE_TIMEOUT, FileStore, Session, SessionStore, cookie,
/// };
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let store: Arc<dyn SessionStore> = Arc::new(FileStore::new(dir.path())?);
/// let settings = CookieSettings::default();
///
/// // The request's `Cookie:` header values (here: no session yet).
/// let headers = ["theme=dark"];
/// let value = cookie::find(&headers, &settings.name);
/// let mut session = Session::open(store, value, DEFAULT_IDLE_TIMEOUT, SystemTime::now());
///
/// // The application.
/// let visits: u32 = session.get("visits").and_then(|v| v.parse().ok()).unwrap_or(0);
/// session.set("visits", (visits + 1).to_string());
///
/// // Before the response goes out.
/// if let Some(set_cookie) = session.finish(&settings, SystemTime::now())? {
///     // The response gets `Set-Cookie: STEPWISE_SESSION=…; Path=/; HttpOnly; SameSite=Lax`.
///     assert!(set_cookie.as_str().starts_with("STEPWISE_SESSION="));
/// }
/// # Ok(())
/// # }
/// ```
pub struct Session {
    /// Where the session is kept.
    store: Arc<dyn SessionStore>,
    /// How long a session may go unused before it is over.
    idle: Duration,
    /// When the request arrived: what expiry is judged against.
    now: SystemTime,
    /// The id the cookie named, if it was a well-formed id.
    requested: Option<SessionId>,
    /// Whether the request brought a session cookie at all (well formed or
    /// not): if the session ends empty, the browser is told to drop it.
    presented: bool,
    /// `None` until the first access; then the session in use.
    state: Option<Open>,
    /// Where problems are reported: the server's error log, or, without
    /// one, `tracing`'s warnings.
    errors: Option<Log>,
}

/// A session once accessed: resumed from the store, or fresh.
struct Open {
    /// The session's id. `None` only for a fresh session whose id could not
    /// be made (the random generator failed); `finish` tries again.
    id: Option<SessionId>,
    /// The store's lock, for a session resumed from the store. A fresh
    /// session has none: nobody else knows its id yet, and it is locked
    /// only when `finish` first saves it.
    lock: Option<Box<dyn LockedSession>>,
    /// The data, as loaded and then changed by the application.
    record: Record,
    /// Whether the data changed since it was loaded.
    dirty: bool,
}

impl Open {
    /// A fresh, empty session with a new id; a failure to make one goes
    /// to `report`.
    fn fresh(now: SystemTime, report: impl Fn(String)) -> Open {
        let id = SessionId::random()
            .map_err(|error| report(format!("cannot make a session id: {error}")))
            .ok();
        Open {
            id,
            lock: None,
            record: Record::new(now),
            dirty: false,
        }
    }
}

impl Session {
    /// The session named by `cookie_value` (the session cookie's value,
    /// from [`cookie::find`]), for a request that arrived at `now`,
    /// expiring after `idle` without use.
    ///
    /// Nothing is read, checked or locked yet: that happens on first
    /// access, and never for a request that does not use its session.
    pub fn open(
        store: Arc<dyn SessionStore>,
        cookie_value: Option<&str>,
        idle: Duration,
        now: SystemTime,
    ) -> Session {
        Session {
            store,
            idle,
            now,
            // Parsing touches no disk, so it need not wait.
            requested: cookie_value.and_then(SessionId::parse),
            presented: cookie_value.is_some(),
            state: None,
            errors: None,
        }
    }

    /// Reports this session's problems (a corrupt record, a store that
    /// cannot be read) to `errors`, the server's error log, instead of to
    /// `tracing` only.
    pub fn reporting_to(mut self, errors: Log) -> Session {
        self.errors = Some(errors);
        self
    }

    /// One problem, reported; the request goes on with a fresh session.
    fn report(&self, message: String) {
        match &self.errors {
            Some(errors) => errors.write(error_line("session", "warn", None, &message)),
            None => warn!("{message}"),
        }
    }

    /// The session, opened on first use.
    fn state(&mut self) -> &mut Open {
        let open = match self.state.take() {
            Some(open) => open,
            None => self.resume(),
        };
        self.state.insert(open)
    }

    // ANCHOR: open_session
    /// Resumes the session the cookie named, or starts a fresh one if it
    /// named none that is alive and readable.
    fn resume(&self) -> Open {
        // A missing or malformed cookie (`../../etc/passwd`, a value of the
        // wrong length) never reaches the store.
        let fresh = || Open::fresh(self.now, |message| self.report(message));
        let Some(id) = self.requested else {
            return fresh();
        };
        let short = id.short();
        // Blocks while another request of this session holds it.
        let mut lock = match self.store.open(&id) {
            Ok(lock) => lock,
            Err(error) => {
                self.report(format!(
                    "session {short}: cannot open it, starting a new one: {error}"
                ));
                return fresh();
            }
        };
        match lock.load() {
            Ok(Some(record)) if !record.is_expired(self.idle, self.now) => Open {
                id: Some(id),
                lock: Some(lock),
                record,
                dirty: false,
            },
            Ok(Some(_)) => {
                debug!(session = %short, "session expired");
                if let Err(error) = lock.delete() {
                    self.report(format!(
                        "session {short}: cannot delete it, expired: {error}"
                    ));
                }
                // Dropping `lock` releases the old id: the new session
                // gets a new one, so the old cookie is dead for good.
                fresh()
            }
            // Unknown: expired and swept, or made up. Either way the
            // client does not get to choose the id (fixation).
            Ok(None) => fresh(),
            Err(StoreError::Corrupt(reason)) => {
                self.report(format!(
                    "session {short}: corrupt session record replaced: {reason}"
                ));
                if let Err(error) = lock.delete() {
                    self.report(format!(
                        "session {short}: cannot delete it, corrupt: {error}"
                    ));
                }
                fresh()
            }
            Err(error) => {
                self.report(format!(
                    "session {short}: cannot read it, starting a new one: {error}"
                ));
                fresh()
            }
        }
    }
    // ANCHOR_END: open_session

    /// The value stored under `key`.
    pub fn get(&mut self, key: &str) -> Option<String> {
        self.state().record.data.get(key).cloned()
    }

    /// Stores `value` under `key`. Storing the value already there is not
    /// a change: the session is then not rewritten.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        let open = self.state();
        if open.record.data.get(&key) != Some(&value) {
            open.record.data.insert(key, value);
            open.dirty = true;
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let open = self.state();
        let value = open.record.data.remove(key);
        open.dirty |= value.is_some();
        value
    }

    /// The keys, in order.
    pub fn keys(&mut self) -> Vec<String> {
        self.state().record.data.keys().cloned().collect()
    }

    /// Removes every key; the session itself (and its id) stays.
    pub fn clear(&mut self) {
        let open = self.state();
        open.dirty |= !open.record.data.is_empty();
        open.record.data.clear();
    }

    /// Ends the session for good and starts a fresh, empty one with a new
    /// id: call it at logout, and at login too, so an id handed out before
    /// the login (perhaps planted by an attacker) never becomes a logged-in
    /// session.
    pub fn invalidate(&mut self) {
        if let Some(mut lock) = self.state().lock.take()
            && let Err(error) = lock.delete()
        {
            self.report(format!("cannot delete an invalidated session: {error}"));
        }
        let fresh = Open::fresh(self.now, |message| self.report(message));
        *self.state() = fresh;
    }

    /// Whether the session is new in this request: there was no cookie,
    /// the cookie named no live session, or the session was invalidated.
    pub fn is_new(&mut self) -> bool {
        self.state().lock.is_none()
    }

    /// The session's id: a secret, so log [`SessionId::short`], never the
    /// whole id. A fresh session has its id from the start, though it is
    /// stored (and sent) only if `finish` saves something; `None` only if
    /// the random generator failed.
    pub fn id(&mut self) -> Option<SessionId> {
        self.state().id
    }

    // ANCHOR: finish
    /// Ends the request's use of the session and returns the `Set-Cookie`
    /// to send, if the browser's cookie must change.
    ///
    /// - Never accessed: nothing is done, no cookie.
    /// - Resumed: saved (atomically) if changed; otherwise only the access
    ///   time is recorded, with [`LockedSession::touch`] (the file store
    ///   sets the file's mtime, no rewrite), because the idle timeout runs
    ///   from the last request that *used* the session, reading included.
    ///   The browser's cookie stays valid: no `Set-Cookie`.
    /// - Fresh with data: saved under its new id, and the cookie sent.
    /// - Fresh and empty: nothing is stored; if the request brought a
    ///   cookie (stale, forged, or just logged out), a deleting
    ///   `Set-Cookie` so the browser stops sending it.
    ///
    /// The lock is released on return, whatever happened.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] if the session could not be saved or touched, or a
    /// new session's id could not be made. The response can still be sent;
    /// the request's changes to the session are lost.
    pub fn finish(mut self, cookie: &CookieSettings, now: SystemTime) -> Result<Option<SetCookie>> {
        let Some(mut open) = self.state.take() else {
            return Ok(None);
        };
        if let Some(mut lock) = open.lock.take() {
            if open.dirty {
                open.record.accessed = now;
                lock.save(&open.record)?;
            } else {
                lock.touch(now)?;
            }
            return Ok(None);
        }
        if open.record.data.is_empty() {
            return Ok(self.presented.then(|| SetCookie::delete(cookie)));
        }
        let id = match open.id {
            Some(id) => id,
            None => SessionId::random()?,
        };
        open.record.accessed = now;
        self.store.open(&id)?.save(&open.record)?;
        Ok(Some(SetCookie::session(cookie, &id)))
    }
    // ANCHOR_END: finish
}

impl Drop for Session {
    fn drop(&mut self) {
        // `finish` takes the state, so this only sees a session abandoned
        // without it. The lock goes with the fields.
        if self.state.as_ref().is_some_and(|open| open.dirty) {
            debug!("session dropped without finish: its changes are discarded");
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No data and no full id: both are the user's secrets.
        f.debug_struct("Session")
            .field("requested", &self.requested)
            .field("opened", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;
    use std::sync::Barrier;
    use std::thread;

    const HOUR: Duration = Duration::from_secs(3600);

    fn file_store() -> (tempfile::TempDir, Arc<dyn SessionStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::new(dir.path()).unwrap());
        (dir, store)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// The files a stored session has: its record and its lock file.
    fn on_disk(id: &str) -> Vec<String> {
        vec![format!("{id}.json"), format!("{id}.lock")]
    }

    fn settings() -> CookieSettings {
        CookieSettings::default()
    }

    /// The id in a `Set-Cookie` value.
    fn cookie_id(set_cookie: &SetCookie) -> String {
        let value = set_cookie.as_str();
        let start = value.find('=').unwrap() + 1;
        value[start..start + SessionId::LEN].to_string()
    }

    /// Runs one request at `now` with `cookie`, doing `work` on the
    /// session; returns what `finish` returned.
    fn request(
        store: &Arc<dyn SessionStore>,
        cookie: Option<&str>,
        now: SystemTime,
        work: impl FnOnce(&mut Session),
    ) -> Option<SetCookie> {
        let mut session = Session::open(Arc::clone(store), cookie, HOUR, now);
        work(&mut session);
        session.finish(&settings(), now).unwrap()
    }

    #[test]
    fn a_session_never_accessed_touches_nothing() {
        let (dir, store) = file_store();
        let id = SessionId::random().unwrap().to_string();
        for cookie in [None, Some(id.as_str()), Some("garbage")] {
            assert_eq!(request(&store, cookie, SystemTime::now(), |_| {}), None);
        }
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_fresh_session_read_but_not_written_stores_nothing() {
        let (dir, store) = file_store();
        let set_cookie = request(&store, None, SystemTime::now(), |session| {
            assert!(session.is_new());
            assert_eq!(session.get("user"), None);
            assert!(session.keys().is_empty());
            session.set("a", "1");
            session.remove("a");
        });
        assert_eq!(set_cookie, None);
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_new_session_sets_the_cookie_and_resumes_without_one() {
        let (dir, store) = file_store();
        let now = SystemTime::now();
        let mut new_id = None;
        let set_cookie = request(&store, None, now, |session| {
            session.set("user", "ann");
            new_id = session.id();
        })
        .unwrap();
        let id = new_id.unwrap().to_string();
        assert_eq!(
            set_cookie.as_str(),
            format!("STEPWISE_SESSION={id}; Path=/; HttpOnly; SameSite=Lax")
        );
        assert_eq!(files(dir.path()), on_disk(&id));

        let later = now + Duration::from_secs(60);
        let set_cookie = request(&store, Some(&id), later, |session| {
            assert!(!session.is_new());
            assert_eq!(session.get("user").as_deref(), Some("ann"));
            assert_eq!(session.id().unwrap().to_string(), id);
        });
        assert_eq!(set_cookie, None, "a resumed session needs no new cookie");
    }

    #[test]
    fn the_secure_attribute_follows_the_settings() {
        let (_dir, store) = file_store();
        let now = SystemTime::now();
        let mut session = Session::open(Arc::clone(&store), None, HOUR, now);
        session.set("a", "1");
        let secure = CookieSettings {
            name: "sid".into(),
            path: "/app".into(),
            secure: true,
        };
        let set_cookie = session.finish(&secure, now).unwrap().unwrap();
        assert!(set_cookie.as_str().starts_with("sid="));
        assert!(
            set_cookie
                .as_str()
                .ends_with("; Path=/app; HttpOnly; SameSite=Lax; Secure")
        );
    }

    /// 50 threads, each one request: read n, write n + 1.
    fn fifty_increments(stores: &[Arc<dyn SessionStore>]) -> String {
        let now = SystemTime::now();
        let first = request(&stores[0], None, now, |s| s.set("n", "0")).unwrap();
        let id = cookie_id(&first);
        let start = Arc::new(Barrier::new(50));
        let threads: Vec<_> = (0..50)
            .map(|i| {
                let store = Arc::clone(&stores[i % stores.len()]);
                let (id, start) = (id.clone(), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let set_cookie = request(&store, Some(&id), SystemTime::now(), |s| {
                        let n: u32 = s.get("n").unwrap().parse().unwrap();
                        s.set("n", (n + 1).to_string());
                    });
                    assert_eq!(set_cookie, None);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut n = None;
        request(&stores[0], Some(&id), SystemTime::now(), |s| n = s.get("n"));
        n.unwrap()
    }

    #[test]
    fn fifty_concurrent_increments_lose_none_in_files() {
        let (_dir, store) = file_store();
        assert_eq!(fifty_increments(&[store]), "50");
    }

    #[test]
    fn fifty_concurrent_increments_lose_none_in_memory() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        assert_eq!(fifty_increments(&[store]), "50");
    }

    #[test]
    fn fifty_concurrent_increments_lose_none_across_two_file_stores() {
        let (dir, store) = file_store();
        let other: Arc<dyn SessionStore> = Arc::new(FileStore::new(dir.path()).unwrap());
        assert_eq!(fifty_increments(&[store, other]), "50");
    }

    #[test]
    fn an_idle_session_expires_into_a_fresh_one_with_a_new_id() {
        let (dir, store) = file_store();
        let now = SystemTime::now();
        let old = request(&store, None, now, |s| s.set("user", "ann")).unwrap();
        let old_id = cookie_id(&old);

        let later = now + HOUR;
        let mut new_id = None;
        let set_cookie = request(&store, Some(&old_id), later, |session| {
            assert!(session.is_new());
            assert_eq!(session.get("user"), None);
            session.set("user", "bob");
            new_id = session.id();
        })
        .unwrap();
        let new_id = new_id.unwrap().to_string();
        assert_ne!(new_id, old_id);
        assert_eq!(cookie_id(&set_cookie), new_id);
        assert_eq!(files(dir.path()), on_disk(&new_id));
    }

    #[test]
    fn an_expired_session_read_only_tells_the_browser_to_forget_it() {
        let (dir, store) = file_store();
        let now = SystemTime::now();
        let old = cookie_id(&request(&store, None, now, |s| s.set("a", "1")).unwrap());
        let set_cookie = request(&store, Some(&old), now + 2 * HOUR, |s| {
            assert_eq!(s.get("a"), None);
        });
        assert_eq!(set_cookie, Some(SetCookie::delete(&settings())));
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn reading_a_session_keeps_it_alive() {
        let (_dir, store) = file_store();
        let now = SystemTime::now();
        let id = cookie_id(&request(&store, None, now, |s| s.set("a", "1")).unwrap());
        // Three reads, 40 minutes apart: each is within the hour of the
        // last, though the last is 2 hours after the only write.
        for step in 1..=3 {
            let at = now + Duration::from_secs(40 * 60 * step);
            request(&store, Some(&id), at, |s| {
                assert_eq!(s.get("a").as_deref(), Some("1"), "read {step}");
            });
        }
    }

    /// Four sessions last used 0, 1, 3 and 5 seconds ago, swept with a
    /// 2-second timeout: the two older ones go. Returns the ids.
    fn sweep_with_a_short_timeout(store: &Arc<dyn SessionStore>) -> Vec<String> {
        let now = SystemTime::now();
        let idle = Duration::from_secs(2);
        let ids: Vec<String> = [0, 1, 3, 5]
            .into_iter()
            .map(|age| {
                let at = now - Duration::from_secs(age);
                cookie_id(&request(store, None, at, |s| s.set("a", "1")).unwrap())
            })
            .collect();
        assert_eq!(store.sweep(idle, now).unwrap(), 2);
        assert_eq!(store.sweep(idle, now).unwrap(), 0);
        let alive: Vec<bool> = ids
            .iter()
            .map(|id| !Session::open(Arc::clone(store), Some(id), idle, now).is_new())
            .collect();
        assert_eq!(alive, [true, true, false, false]);
        ids
    }

    #[test]
    fn sweeping_with_a_short_timeout_in_memory() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        sweep_with_a_short_timeout(&store);
    }

    #[test]
    fn sweeping_with_a_short_timeout_in_files() {
        let (dir, store) = file_store();
        let ids = sweep_with_a_short_timeout(&store);
        let mut left = [on_disk(&ids[0]), on_disk(&ids[1])].concat();
        left.sort();
        assert_eq!(files(dir.path()), left);
    }

    #[test]
    fn sessions_survive_a_restart() {
        let (dir, store) = file_store();
        let now = SystemTime::now();
        let id = cookie_id(&request(&store, None, now, |s| s.set("user", "ann")).unwrap());
        drop(store);
        let restarted: Arc<dyn SessionStore> = Arc::new(FileStore::new(dir.path()).unwrap());
        request(&restarted, Some(&id), now, |s| {
            assert!(!s.is_new());
            assert_eq!(s.get("user").as_deref(), Some("ann"));
        });
    }

    #[test]
    fn hostile_cookies_start_a_fresh_session_and_reach_no_file() {
        let (dir, store) = file_store();
        let long = "a".repeat(10_000);
        for cookie in [
            "../../etc/passwd",
            "/etc/passwd",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcdef.json",
            "",
            long.as_str(),
        ] {
            let set_cookie = request(&store, Some(cookie), SystemTime::now(), |s| {
                assert!(s.is_new());
                assert_eq!(s.get("user"), None);
            });
            assert_eq!(
                set_cookie,
                Some(SetCookie::delete(&settings())),
                "{cookie:?}"
            );
        }
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn an_unknown_id_is_never_adopted() {
        let (dir, store) = file_store();
        let planted = SessionId::random().unwrap().to_string();
        let set_cookie = request(&store, Some(&planted), SystemTime::now(), |s| {
            assert!(s.is_new());
            assert_ne!(s.id().unwrap().to_string(), planted);
            s.set("user", "ann");
        })
        .unwrap();
        assert_ne!(cookie_id(&set_cookie), planted);
        assert!(!dir.path().join(format!("{planted}.json")).exists());
        assert!(!dir.path().join(format!("{planted}.lock")).exists());
    }

    #[test]
    fn corrupt_files_are_replaced_by_a_fresh_session() {
        let (dir, store) = file_store();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let target = outside.join("target.json");
        fs::write(&target, r#"{"created":0,"accessed":0,"data":{}}"#).unwrap();
        let plant = |what: &str, path: &Path| match what {
            "garbage" => fs::write(path, "garbage").unwrap(),
            "truncated" => fs::write(path, r#"{"created":1,"accessed":"#).unwrap(),
            // Sparse: 4 GiB on paper, nothing on disk.
            "huge" => fs::File::create(path).unwrap().set_len(1 << 32).unwrap(),
            "directory" => fs::create_dir(path).unwrap(),
            "symlink" => std::os::unix::fs::symlink(&target, path).unwrap(),
            _ => unreachable!(),
        };
        for what in ["garbage", "truncated", "huge", "directory", "symlink"] {
            let id = SessionId::random().unwrap().to_string();
            let data = dir.path().join(format!("{id}.json"));
            plant(what, &data);
            let mut session = Session::open(Arc::clone(&store), Some(&id), HOUR, SystemTime::now());
            assert!(session.is_new(), "{what}");
            session.set("user", "ann");
            assert_ne!(session.id().unwrap().to_string(), id, "{what}");
            let set_cookie = session.finish(&settings(), SystemTime::now());
            assert!(matches!(set_cookie, Ok(Some(_))), "{what}");
            assert!(
                fs::symlink_metadata(&data).is_err(),
                "{what}: the corrupt entry was not removed"
            );
        }
        assert!(target.exists(), "deleting the symlink deleted its target");
    }

    #[test]
    fn invalidate_deletes_the_session_and_changes_the_id() {
        let (dir, store) = file_store();
        let now = SystemTime::now();
        let before = cookie_id(&request(&store, None, now, |s| s.set("cart", "3")).unwrap());

        // Login: a new id for the logged-in session (no fixation).
        let set_cookie = request(&store, Some(&before), now, |s| {
            assert_eq!(s.get("cart").as_deref(), Some("3"));
            s.invalidate();
            assert!(s.is_new());
            assert_eq!(s.get("cart"), None);
            s.set("user", "ann");
        })
        .unwrap();
        let after = cookie_id(&set_cookie);
        assert_ne!(after, before);
        assert_eq!(files(dir.path()), on_disk(&after));

        // Logout: nothing stored, and the browser told to forget the cookie.
        let set_cookie = request(&store, Some(&after), now, |s| s.invalidate());
        assert_eq!(set_cookie, Some(SetCookie::delete(&settings())));
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn set_to_the_same_value_and_clear_of_nothing_are_not_changes() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let now = SystemTime::now();
        let id = cookie_id(&request(&store, None, now, |s| s.set("a", "1")).unwrap());
        let mut session = Session::open(Arc::clone(&store), Some(&id), HOUR, now);
        session.set("a", "1");
        assert!(!session.state().dirty);
        session.set("a", "2");
        assert!(session.state().dirty);
        session.clear();
        assert!(session.keys().is_empty());
        assert_eq!(session.finish(&settings(), now).unwrap(), None);
        request(&store, Some(&id), now, |s| assert!(s.keys().is_empty()));
    }

    #[test]
    fn dropping_a_session_without_finish_releases_the_lock_and_saves_nothing() {
        let (_dir, store) = file_store();
        let now = SystemTime::now();
        let id = cookie_id(&request(&store, None, now, |s| s.set("n", "1")).unwrap());
        {
            let mut session = Session::open(Arc::clone(&store), Some(&id), HOUR, now);
            session.set("n", "2");
            // Dropped here, as a panicking handler would drop it.
        }
        // If the lock were still held, this would block for ever.
        request(&store, Some(&id), now, |s| {
            assert_eq!(s.get("n").as_deref(), Some("1"));
        });
    }
}
