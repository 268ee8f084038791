//! The memory store: sessions in a map, for tests and single-process
//! servers.
//!
//! It is the second implementation that keeps [`SessionStore`] honest:
//! anything `Session` needs must be in the trait, not in a file.
//!
//! Each session is a *slot* in a `HashMap`: the record and a "held" flag
//! under a `Mutex`, with a `Condvar` to wait on. Why not hold a
//! `MutexGuard` in the handle? A guard borrows its mutex, and the handle
//! must be an owned value that outlives the call that made it (std has no
//! owned guard), so the lock is the flag, and the mutex only guards the
//! flag for the moment it takes to flip it.
//!
//! A slot is removed from the map when its session ends with no record,
//! so made-up ids leave nothing behind. That brings back the file store's
//! race in a new form: a request waiting on a slot that was removed must
//! not use it (a newcomer would make a second slot for the same id, and
//! both would "hold" the session). The same cure applies: once the slot is
//! held, check that the map still has *this* slot for the id, and start
//! again if not.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::id::SessionId;
use super::store::{LockedSession, Record, Result, SessionStore, StoreError};

/// Sessions in memory; they do not survive a restart.
#[derive(Default)]
pub struct MemoryStore {
    /// Session id → its slot. The map's mutex is held only to find,
    /// insert or remove a slot, never while waiting for one.
    slots: Arc<Mutex<HashMap<SessionId, Arc<Slot>>>>,
}

/// One session's record and lock.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    /// Signalled when `held` goes back to false.
    released: Condvar,
}

#[derive(Default)]
struct SlotState {
    /// Whether a handle holds the session.
    held: bool,
    /// The session's record, if it has one.
    record: Option<Record>,
}

/// Locks `mutex`, taking the data even if a thread panicked while
/// holding it: every update here is a single assignment, so a panic cannot
/// leave the data half-changed, and refusing it would turn one panic into
/// many.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// How many sessions have a record.
    pub fn len(&self) -> usize {
        lock(&self.slots)
            .values()
            .filter(|slot| lock(&slot.state).record.is_some())
            .count()
    }

    /// Whether no session has a record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes session `id`: waits for it if `wait`, otherwise returns
    /// `None` when it is held.
    fn take(&self, id: &SessionId, wait: bool) -> Option<MemorySession> {
        loop {
            let slot = Arc::clone(lock(&self.slots).entry(*id).or_default());
            {
                let mut state = lock(&slot.state);
                while state.held {
                    if !wait {
                        return None;
                    }
                    state = slot
                        .released
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                state.held = true;
            }
            let handle = MemorySession {
                id: *id,
                slot,
                slots: Arc::clone(&self.slots),
            };
            let current = lock(&self.slots)
                .get(id)
                .is_some_and(|slot| Arc::ptr_eq(slot, &handle.slot));
            if current {
                return Some(handle);
            }
            // Removed while we waited: dropping the handle releases the
            // dead slot (and wakes anyone else waiting on it).
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the records: they hold the users' data and ids.
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl SessionStore for MemoryStore {
    fn open(&self, id: &SessionId) -> Result<Box<dyn LockedSession>> {
        match self.take(id, true) {
            Some(session) => Ok(Box::new(session)),
            // `take` only gives up when told not to wait.
            None => Err(StoreError::Io(std::io::ErrorKind::WouldBlock.into())),
        }
    }

    fn sweep(&self, idle: Duration, now: SystemTime) -> Result<usize> {
        let ids: Vec<SessionId> = lock(&self.slots).keys().copied().collect();
        let mut deleted = 0;
        for id in ids {
            let Some(session) = self.take(&id, false) else {
                continue; // in use, so not idle
            };
            let mut state = lock(&session.slot.state);
            if state
                .record
                .as_ref()
                .is_some_and(|record| record.is_expired(idle, now))
            {
                state.record = None;
                deleted += 1;
            }
            // Release the state first: dropping the handle takes it again
            // to remove the slot, now empty.
            drop(state);
            drop(session);
        }
        Ok(deleted)
    }
}

/// One session of a [`MemoryStore`], held.
struct MemorySession {
    id: SessionId,
    slot: Arc<Slot>,
    /// The store's map, to remove the slot when the session ends empty.
    slots: Arc<Mutex<HashMap<SessionId, Arc<Slot>>>>,
}

impl MemorySession {
    /// Removes the slot from the map if the session has no record. Only
    /// the holder does this, and only if the map still has this very slot.
    fn forget_if_empty(&self) {
        if lock(&self.slot.state).record.is_some() {
            return;
        }
        let mut slots = lock(&self.slots);
        if slots
            .get(&self.id)
            .is_some_and(|slot| Arc::ptr_eq(slot, &self.slot))
        {
            slots.remove(&self.id);
        }
    }
}

impl LockedSession for MemorySession {
    fn load(&mut self) -> Result<Option<Record>> {
        Ok(lock(&self.slot.state).record.clone())
    }

    fn save(&mut self, record: &Record) -> Result<()> {
        lock(&self.slot.state).record = Some(record.clone());
        Ok(())
    }

    fn touch(&mut self, now: SystemTime) -> Result<()> {
        match &mut lock(&self.slot.state).record {
            Some(record) => {
                record.accessed = now;
                Ok(())
            }
            None => Err(StoreError::Corrupt("no record to touch".into())),
        }
    }

    fn delete(&mut self) -> Result<()> {
        lock(&self.slot.state).record = None;
        Ok(())
    }
}

impl Drop for MemorySession {
    /// Forgets an empty slot, then releases the slot and wakes one waiter.
    fn drop(&mut self) {
        self.forget_if_empty();
        lock(&self.slot.state).held = false;
        self.slot.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Barrier, mpsc};
    use std::thread;

    #[test]
    fn fifty_concurrent_increments_lose_none() {
        let store = Arc::new(MemoryStore::new());
        let id = SessionId::random().unwrap();
        let start = Arc::new(Barrier::new(50));
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let store = Arc::clone(&store);
                let start = Arc::clone(&start);
                thread::spawn(move || {
                    start.wait();
                    let mut session = store.open(&id).unwrap();
                    let mut record = session
                        .load()
                        .unwrap()
                        .unwrap_or_else(|| Record::new(SystemTime::now()));
                    let n: u64 = record.data.get("n").map_or(0, |n| n.parse().unwrap());
                    // Give the others every chance to interleave.
                    thread::yield_now();
                    record.data.insert("n".into(), (n + 1).to_string());
                    session.save(&record).unwrap();
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let record = store.open(&id).unwrap().load().unwrap().unwrap();
        assert_eq!(record.data["n"], "50");
    }

    #[test]
    fn unknown_and_deleted_sessions_leave_no_slot() {
        let store = MemoryStore::new();
        let id = SessionId::random().unwrap();
        assert_eq!(store.open(&id).unwrap().load().unwrap(), None);
        assert!(lock(&store.slots).is_empty());
        store
            .open(&id)
            .unwrap()
            .save(&Record::new(SystemTime::now()))
            .unwrap();
        assert_eq!(store.len(), 1);
        store.open(&id).unwrap().delete().unwrap();
        assert!(lock(&store.slots).is_empty());
    }

    #[test]
    fn a_waiter_on_a_removed_slot_starts_again() {
        let store = Arc::new(MemoryStore::new());
        let id = SessionId::random().unwrap();
        let mut first = store.open(&id).unwrap();
        first.save(&Record::new(SystemTime::now())).unwrap();
        let (holding, release) = (mpsc::channel(), mpsc::channel::<()>());
        let waiter = {
            let store = Arc::clone(&store);
            let (holding, release) = (holding.0, release.1);
            thread::spawn(move || {
                let mut session = store.open(&id).unwrap();
                assert_eq!(session.load().unwrap(), None);
                session.save(&Record::new(SystemTime::now())).unwrap();
                holding.send(()).unwrap();
                release.recv().unwrap();
            })
        };
        // Time for the waiter to start waiting on the slot.
        thread::sleep(Duration::from_millis(100));
        first.delete().unwrap();
        drop(first); // removes the slot the waiter waits on
        holding.1.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(store.take(&id, false).is_none(), "two holders at once");
        release.0.send(()).unwrap();
        waiter.join().unwrap();
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn sweep_deletes_only_idle_sessions_and_skips_busy_ones() {
        let store = MemoryStore::new();
        let now = SystemTime::now();
        let idle = Duration::from_secs(60);
        let [fresh, stale, busy] = [(); 3].map(|()| SessionId::random().unwrap());
        for (id, age) in [(fresh, 59), (stale, 61), (busy, 61)] {
            let record = Record::new(now - Duration::from_secs(age));
            store.open(&id).unwrap().save(&record).unwrap();
        }
        let held = store.open(&busy).unwrap();
        assert_eq!(store.sweep(idle, now).unwrap(), 1);
        assert_eq!(store.len(), 2);
        drop(held);
        assert_eq!(store.sweep(idle, now).unwrap(), 1);
        assert_eq!(store.len(), 1);
        assert!(store.open(&fresh).unwrap().load().unwrap().is_some());
    }
}
