//! The in-memory cache: file contents kept in RAM under a byte budget.
//!
//! The server-behaviour reference §8 is the contract:
//!
//! - an LRU-style cache keyed by the file's canonical path, under a byte
//!   budget (`cache.max_size`): each entry is charged its body, its key and
//!   a fixed overhead, and inserting evicts the least valuable entries
//!   until the total fits (quick_cache's S3-FIFO policy, a refinement of
//!   LRU that a one-off scan of many files cannot flush);
//! - files above `cache.max_entry` are never cached: they are streamed;
//! - bodies are `Bytes`, reference-counted: a response being sent keeps
//!   its body alive even if the entry is evicted meanwhile;
//! - every hit is checked against the file on disk: if the inode, size,
//!   **nanosecond** mtime or status-change time (a `chmod`) differ, the
//!   entry is stale and is replaced.
//!   Nanoseconds and the inode catch a rewrite within the same second that
//!   keeps the same size, which a seconds-only mtime would miss;
//! - "checked" means at most every `cache.revalidate` seconds, 1 by
//!   default: the reference allows an interval and recommends at most
//!   1 s, and lighttpd's stat cache uses 1 s. Within it a hit costs no
//!   system call at all, and a change on disk is seen at most that late.
//!   `revalidate = 0` checks on every hit.
//!
//! The slow path opens and `fstat`s the file anyway (that is how
//! confinement checks what it serves), so its check costs nothing extra;
//! the fast path (`Files::fast_path`) pays one `stat`, unless the entry was
//! checked less than `revalidate` ago.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quick_cache::sync::Cache as Store;
use quick_cache::{OptionsBuilder, Weighter};

use crate::files::FileHeaders;

/// What an entry is charged beyond its body and key, for the map's own
/// bookkeeping.
const ENTRY_OVERHEAD: u64 = 256;

/// How many URL → file resolutions are remembered.
const NAMES: usize = 16_384;

/// Which version of a file an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The device and inode: a file replaced by `mv` has a new inode.
    pub dev: u64,
    /// The inode number.
    pub ino: u64,
    /// The size in bytes.
    pub size: u64,
    /// The modification time, in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// The status-change time, in nanoseconds: `chmod`, `chown` and new
    /// links change it, so a file made unreadable is re-checked, not served
    /// from memory.
    pub ctime_ns: i128,
}

impl Identity {
    /// The identity of the file behind `metadata`.
    pub fn of(metadata: &Metadata) -> Identity {
        Identity {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
            ctime_ns: i128::from(metadata.ctime()) * 1_000_000_000
                + i128::from(metadata.ctime_nsec()),
        }
    }
}

/// A cached file: what a hit needs to answer without touching the disk
/// again, and without formatting anything.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Which version of the file this is.
    pub identity: Identity,
    /// The whole file.
    pub body: Bytes,
    /// Its validators and header values (ETag, Last-Modified,
    /// Content-Type), computed once when the entry was made rather than
    /// on every request.
    pub headers: Arc<FileHeaders>,
    /// When the file was last found unchanged, in milliseconds since the
    /// cache was made; shared by every clone of the entry.
    pub checked: Arc<AtomicU64>,
}

impl Entry {
    /// An entry for a file whose `identity` was just read.
    pub fn new(identity: Identity, body: Bytes, headers: Arc<FileHeaders>) -> Entry {
        Entry {
            identity,
            body,
            headers,
            checked: Arc::new(AtomicU64::new(0)),
        }
    }
}

// ANCHOR: cache
/// The cache and its counters.
pub struct Cache {
    /// Keyed by the path's bytes: hashing a `Path` itself walks its
    /// components, which costs more than the rest of the lookup.
    map: Store<Arc<OsStr>, Entry, Charge>,
    /// URL path (as the client sent it) → the canonical file it resolved
    /// to: what nginx calls an open-file cache, without the descriptor.
    /// It saves the resolution (a `canonicalize` walks every component),
    /// never the check: a hit is still `stat`ed and compared.
    names: Store<Box<str>, Arc<Path>>,
    max_entry: u64,
    /// How long a checked entry is trusted (zero: not at all).
    revalidate: Duration,
    /// The clock `Entry::checked` counts from.
    epoch: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Cache {
    /// A cache of at most `max_size` bytes, holding files of at most
    /// `max_entry` bytes, each checked against the disk on every hit.
    pub fn new(max_size: u64, max_entry: u64) -> Cache {
        Cache::with_revalidation(max_size, max_entry, Duration::ZERO)
    }

    /// Like [`Cache::new`], but an entry found unchanged is trusted for
    /// `revalidate` before it is checked again.
    pub fn with_revalidation(max_size: u64, max_entry: u64, revalidate: Duration) -> Cache {
        // The map is split into shards, each with its own lock and an equal
        // share of the budget; a shard must still hold the largest file.
        let shards = (max_size / max_entry.max(1) / 2).clamp(1, 16);
        let options = OptionsBuilder::new()
            .shards(usize::try_from(shards).unwrap_or(1))
            .weight_capacity(max_size)
            .estimated_items_capacity(usize::try_from(max_size / 8192).unwrap_or(1).max(32))
            .build()
            // `build` fails only when the weight capacity or the item
            // estimate is missing, and both are set just above.
            .expect("every option is set");
        let map = Store::with_options(options, Charge, Default::default(), Default::default());
        Cache {
            map,
            names: Store::new(NAMES),
            max_entry,
            revalidate,
            epoch: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether a file of `size` bytes may be cached at all.
    pub fn admits(&self, size: u64) -> bool {
        size <= self.max_entry
    }

    /// The cached entry of `path`, if it matches the file as it is now
    /// (`identity`, from the descriptor just opened). A stale entry is
    /// removed.
    pub fn get(&self, path: &Path, identity: Identity) -> Option<Entry> {
        match self.map.get(path.as_os_str()) {
            Some(entry) if entry.identity == identity => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                entry.checked.store(self.now_ms(), Ordering::Relaxed);
                Some(entry)
            }
            Some(_) => {
                self.map.remove(path.as_os_str());
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The cached entry of `path` if it was found unchanged on disk less
    /// than `revalidate` ago: a hit with no system call. `None` means
    /// "check it": `stat` the file and call [`Cache::get`].
    pub fn trusted(&self, path: &Path) -> Option<Entry> {
        if self.revalidate.is_zero() {
            return None;
        }
        let entry = self.map.get(path.as_os_str())?;
        let age = self
            .now_ms()
            .saturating_sub(entry.checked.load(Ordering::Relaxed));
        if Duration::from_millis(age) < self.revalidate {
            self.hits.fetch_add(1, Ordering::Relaxed);
            Some(entry)
        } else {
            None
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Stores `entry` as the content of `path`, checked as of now.
    pub fn insert(&self, path: PathBuf, entry: Entry) {
        entry.checked.store(self.now_ms(), Ordering::Relaxed);
        if self.admits(entry.body.len() as u64) {
            self.map.insert(Arc::from(path.into_os_string()), entry);
        }
    }
    // ANCHOR_END: cache

    /// The canonical file `url_path` resolved to last time, if remembered.
    pub fn resolved(&self, url_path: &str) -> Option<Arc<Path>> {
        self.names.get(url_path)
    }

    /// Remembers that `url_path` resolved to the file `canonical`.
    pub fn remember(&self, url_path: &str, canonical: &Path) {
        self.names.insert(Box::from(url_path), Arc::from(canonical));
    }

    /// (hits, misses) so far.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// The bytes currently charged.
    pub fn weighted_size(&self) -> u64 {
        self.map.weight()
    }
}

/// What an entry costs the budget: its body, its key, and a fixed
/// overhead for the map's own bookkeeping.
#[derive(Clone)]
struct Charge;

impl Weighter<Arc<OsStr>, Entry> for Charge {
    fn weight(&self, key: &Arc<OsStr>, entry: &Entry) -> u64 {
        entry.body.len() as u64 + key.len() as u64 + ENTRY_OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::SystemTime;

    /// A file on device 1 with times at the epoch.
    fn file_identity(ino: u64, size: u64) -> Identity {
        Identity {
            dev: 1,
            ino,
            size,
            mtime_ns: 0,
            ctime_ns: 0,
        }
    }

    fn entry(identity: Identity, body: impl Into<Bytes>) -> Entry {
        let headers = FileHeaders::new(identity.size, SystemTime::UNIX_EPOCH, "text/plain");
        Entry::new(identity, body.into(), Arc::new(headers))
    }

    #[test]
    fn a_rewrite_in_the_same_second_with_the_same_size_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "version 1").unwrap();
        let cache = Cache::new(1 << 20, 1 << 16);
        let first = Identity::of(&fs::metadata(&path).unwrap());
        cache.insert(path.clone(), entry(first, Bytes::from_static(b"version 1")));
        let hit = cache.get(&path, first).unwrap();
        assert_eq!(&hit.body[..], b"version 1");
        // Same size, same second (most likely): only nanoseconds or the
        // inode tell them apart.
        let replacement = dir.path().join("b.txt");
        fs::write(&replacement, "version 2").unwrap();
        fs::rename(&replacement, &path).unwrap();
        let second = Identity::of(&fs::metadata(&path).unwrap());
        assert_ne!(first, second);
        assert!(cache.get(&path, second).is_none());
        assert_eq!(cache.counters(), (1, 1));
    }

    #[test]
    fn an_entry_is_trusted_only_within_the_revalidation_interval() {
        let identity = file_identity(1, 2);
        let path = Path::new("/a");
        let strict = Cache::new(1 << 20, 1 << 16);
        strict.insert(path.to_owned(), entry(identity, "ab"));
        assert!(strict.trusted(path).is_none(), "0 means: always check");

        let cache = Cache::with_revalidation(1 << 20, 1 << 16, Duration::from_millis(200));
        assert!(cache.trusted(path).is_none(), "nothing cached yet");
        cache.insert(path.to_owned(), entry(identity, "ab"));
        assert_eq!(&cache.trusted(path).unwrap().body[..], b"ab");
        std::thread::sleep(Duration::from_millis(250));
        assert!(cache.trusted(path).is_none(), "the interval has passed");
        // A check that finds the file unchanged trusts it again.
        assert!(cache.get(path, identity).is_some());
        assert!(cache.trusted(path).is_some());
        assert_eq!(cache.counters(), (3, 0));
    }

    #[test]
    fn the_budget_is_respected_and_big_files_are_refused() {
        let cache = Cache::new(10_000, 2_000);
        assert!(!cache.admits(2_001));
        for i in 0..50u64 {
            let identity = file_identity(i, 1_000);
            cache.insert(
                PathBuf::from(format!("/f{i}")),
                entry(identity, vec![0u8; 1_000]),
            );
        }
        assert!(cache.weighted_size() <= 10_000, "{}", cache.weighted_size());
        let big = file_identity(99, 3_000);
        cache.insert(PathBuf::from("/big"), entry(big, vec![0u8; 3_000]));
        assert!(cache.get(Path::new("/big"), big).is_none());
    }

    #[test]
    fn a_file_of_the_largest_admitted_size_is_kept() {
        // The budget is split between shards; each must still hold one.
        // Half the budget is the most the configuration allows.
        for (max_size, max_entry) in [
            (64 << 20, 1 << 20),
            (4 << 20, 1 << 20),
            (1 << 20, 1 << 18),
            (2 << 20, 1 << 20),
        ] {
            let cache = Cache::new(max_size, max_entry);
            let identity = file_identity(1, max_entry);
            let body = vec![0u8; usize::try_from(max_entry).unwrap()];
            cache.insert(PathBuf::from("/largest"), entry(identity, body));
            assert!(
                cache.get(Path::new("/largest"), identity).is_some(),
                "{max_entry} of {max_size}"
            );
        }
    }

    #[test]
    fn a_zero_budget_holds_nothing_and_does_not_panic() {
        let cache = Cache::new(0, 0);
        let identity = file_identity(1, 0);
        cache.insert(PathBuf::from("/empty"), entry(identity, Bytes::new()));
        assert!(cache.get(Path::new("/empty"), identity).is_none());
        assert_eq!(cache.weighted_size(), 0);
    }

    #[test]
    fn a_body_outlives_its_eviction() {
        let cache = Cache::new(2_000, 2_000);
        let identity = file_identity(1, 1_000);
        cache.insert(PathBuf::from("/a"), entry(identity, vec![7u8; 1_000]));
        let body = cache.get(Path::new("/a"), identity).unwrap().body;
        for i in 2..10u64 {
            let other = file_identity(i, 1_000);
            cache.insert(
                PathBuf::from(format!("/{i}")),
                entry(other, vec![0u8; 1_000]),
            );
        }
        cache.weighted_size();
        // Whatever was evicted, the response in flight still has its bytes.
        assert_eq!(body.len(), 1_000);
        assert!(body.iter().all(|b| *b == 7));
    }
}
