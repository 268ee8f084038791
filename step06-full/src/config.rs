//! The configuration: one TOML file, every key documented in the shipped
//! default (`stepwise.toml`).
//!
//! serde reads the file into [`Config`]; `deny_unknown_fields` turns a
//! misspelt key into an error, and the `toml` crate's errors carry the line
//! and column, so a mistake reads like
//! `stepwise.toml, line 12: unknown field 'idle_timout', expected one of …`.
//! Values are then checked (`Config::validate`): a zero timeout, a cache
//! entry larger than the cache, a missing document root are refused with
//! the key named. Relative paths are relative to the file's directory, so
//! the shipped config works wherever the server is started from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration error, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed, or a key is unknown or has the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the line, column and key.
        message: String,
    },
    /// A value is well-typed but unusable.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `timeouts.idle`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

// ANCHOR: config
/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen and what to serve.
    pub server: ServerSection,
    /// How long to wait for slow clients and for shutdown.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Limits on what a client may send.
    #[serde(default)]
    pub limits: Limits,
    /// The in-memory response cache.
    #[serde(default)]
    pub cache: CacheSection,
    /// Access and error logs.
    #[serde(default)]
    pub log: LogSection,
    /// CGI/1.1 scripts.
    #[serde(default)]
    pub cgi: CgiSection,
    /// PHP through php-cgi.
    #[serde(default)]
    pub php: PhpSection,
    /// Server Side Includes.
    #[serde(default)]
    pub ssi: SsiSection,
    /// Where and how sessions are kept.
    #[serde(default)]
    pub sessions: SessionsSection,
    /// Applications mounted at URL prefixes (`[[mount]]`, any number).
    #[serde(default, rename = "mount")]
    pub mounts: Vec<MountSection>,
    /// The directory this file was read from (set by [`Config::load`]).
    #[serde(skip)]
    pub base: PathBuf,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Addresses to listen on, e.g. `["127.0.0.1:8080", "[::1]:8080"]`.
    pub listen: Vec<SocketAddr>,
    /// The document root.
    pub document_root: PathBuf,
    /// Files tried, in order, for a directory.
    #[serde(default = "default_index_files")]
    pub index_files: Vec<String>,
    /// Show a listing for a directory without an index file (else 404).
    #[serde(default)]
    pub directory_listing: bool,
    /// A `mime.types` file; empty for the built-in table.
    #[serde(default)]
    pub mime_types: Option<PathBuf>,
    /// Add `; charset=utf-8` to `text/*` types.
    #[serde(default = "default_true")]
    pub text_charset_utf8: bool,
    /// Most connections served at once; more wait in the listen backlog.
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// Run as this user after binding (started as root only).
    #[serde(default)]
    pub user: Option<String>,
    /// Run as this group (default: the user's primary group).
    #[serde(default)]
    pub group: Option<String>,
}

/// `[timeouts]`, in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// A request head must arrive within this; the connection is closed
    /// otherwise (hyper sends no 408).
    pub header_read: f64,
    /// A kept-alive connection may sit idle this long.
    pub idle: f64,
    /// On SIGTERM, requests in flight get this long to finish.
    pub shutdown: f64,
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest request body, in bytes (413 beyond it).
    pub max_body: u64,
    /// The largest request head, in bytes (431 beyond it).
    pub max_header: usize,
}

/// `[cache]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    /// Cache file contents in memory.
    pub enabled: bool,
    /// The cache's budget in bytes (bodies, headers and keys counted).
    pub max_size: u64,
    /// Files larger than this are streamed from disk, never cached.
    pub max_entry: u64,
    /// Send `X-Cache: HIT` or `MISS` with every cacheable response.
    pub x_cache_header: bool,
    /// Seconds a cached file is trusted without a `stat` (1, like
    /// lighttpd's stat cache); 0 checks it on every request.
    pub revalidate: f64,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// The access log (Combined Log Format); empty to disable.
    pub access: Option<PathBuf>,
    /// The error log (Apache's format); empty to disable.
    pub error: Option<PathBuf>,
    /// Rotate a log before it would grow past this many bytes.
    pub rotate_size: u64,
    /// Keep this many rotated, gzipped logs (`access.log.1.gz` …).
    pub keep: usize,
    /// Also write log lines to stderr (`auto`: when it is a terminal).
    pub stderr: StderrMode,
}
// ANCHOR_END: config

// ANCHOR: dynamic_config
/// `[cgi]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CgiSection {
    /// Run CGI scripts at all.
    pub enabled: bool,
    /// URL prefixes under which every file is a script (`/cgi-bin`).
    pub directories: Vec<String>,
    /// File extensions that make a file a script anywhere (`cgi`).
    pub extensions: Vec<String>,
    /// Seconds a script has to print its header block (504 otherwise).
    pub header_timeout: f64,
    /// Seconds a script may stay silent once its headers are out.
    pub idle_timeout: f64,
    /// Scripts (CGI and PHP) running at once; 503 beyond it.
    pub max_processes: usize,
    /// Hand `Authorization` to scripts as `HTTP_AUTHORIZATION`.
    pub pass_authorization: bool,
    /// Seconds of CPU time a script may use (`RLIMIT_CPU`); 0: no limit.
    pub cpu_seconds: u64,
    /// Bytes of address space a script may map (`RLIMIT_AS`); 0: no limit.
    pub address_space: u64,
    /// Processes and threads of the scripts' user (`RLIMIT_NPROC`); 0: no
    /// limit.
    pub processes: u64,
}

/// `[php]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhpSection {
    /// Run `.php` files through php-cgi.
    pub enabled: bool,
    /// The php-cgi program: a path, or a name looked up on `PATH`.
    pub binary: PathBuf,
    /// File extensions handled by PHP.
    pub extensions: Vec<String>,
}

/// `[ssi]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsiSection {
    /// Parse Server Side Includes at all.
    pub enabled: bool,
    /// File extensions that are parsed (`shtml`).
    pub extensions: Vec<String>,
    /// Allow `<!--#exec -->` in every document.
    pub exec: bool,
    /// URL prefixes under which `exec` is allowed even when `exec` is off.
    pub exec_directories: Vec<String>,
}
// ANCHOR_END: dynamic_config

// ANCHOR: mount_config
/// `[sessions]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsSection {
    /// The directory of session files (created, mode 0700, if missing).
    pub directory: PathBuf,
    /// Seconds without a request after which a session has expired.
    pub idle_timeout: f64,
    /// Seconds between two sweeps that delete expired sessions.
    pub sweep_interval: f64,
    /// The name of the session cookie.
    pub cookie_name: String,
    /// Mark the cookie `Secure` (only sent over HTTPS, behind a TLS proxy).
    pub secure: bool,
}

/// One `[[mount]]`: an application at a URL prefix. Exactly one of
/// `servlet`, `app` and `wsgi` names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountSection {
    /// The URL prefix (`/servlet/visits`), without a trailing slash.
    pub path: String,
    /// A servlet of this crate: `visits` or `login`.
    #[serde(default)]
    pub servlet: Option<String>,
    /// One of chapter 2's applications: `hello`, `environ`, `framework`.
    #[serde(default)]
    pub app: Option<String>,
    /// A Python WSGI application, `module:callable` (needs the `python`
    /// feature; without it the mount is skipped with a warning).
    #[serde(default)]
    pub wsgi: Option<String>,
    /// Directories added to Python's path for `wsgi`.
    #[serde(default)]
    pub pythonpath: Vec<PathBuf>,
    /// Wrap the application in the session middleware.
    #[serde(default)]
    pub sessions: bool,
}
// ANCHOR_END: mount_config

/// The servlets [`MountSection::servlet`] may name.
pub const SERVLETS: [&str; 2] = ["visits", "login"];

impl Default for SessionsSection {
    fn default() -> Self {
        SessionsSection {
            directory: PathBuf::from("sessions"),
            idle_timeout: 3600.0,
            sweep_interval: 300.0,
            cookie_name: "STEPWISE_SESSION".into(),
            secure: false,
        }
    }
}

impl Default for CgiSection {
    fn default() -> Self {
        CgiSection {
            enabled: true,
            directories: vec!["/cgi-bin".into()],
            extensions: vec!["cgi".into()],
            header_timeout: 60.0,
            idle_timeout: 60.0,
            max_processes: 64,
            pass_authorization: false,
            cpu_seconds: 0,
            address_space: 0,
            processes: 0,
        }
    }
}

impl Default for PhpSection {
    fn default() -> Self {
        PhpSection {
            enabled: true,
            binary: PathBuf::from("php-cgi"),
            extensions: vec!["php".into()],
        }
    }
}

impl Default for SsiSection {
    fn default() -> Self {
        SsiSection {
            enabled: true,
            extensions: vec!["shtml".into()],
            exec: false,
            exec_directories: Vec::new(),
        }
    }
}

/// Whether log lines also go to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StderrMode {
    /// When stderr is a terminal.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

fn default_index_files() -> Vec<String> {
    vec![
        "index.html".into(),
        "index.shtml".into(),
        "index.php".into(),
    ]
}

fn default_true() -> bool {
    true
}

fn default_max_clients() -> usize {
    10_000
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: 10.0,
            idle: 5.0,
            shutdown: 30.0,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_header: 64 * 1024,
        }
    }
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            enabled: true,
            max_size: 64 * 1024 * 1024,
            max_entry: 1024 * 1024,
            x_cache_header: true,
            revalidate: 1.0,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            access: None,
            error: None,
            rotate_size: 1024 * 1024,
            keep: 10,
            stderr: StderrMode::Auto,
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file, and the key and line where known.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, path, &base)
    }

    /// Parses and validates TOML text; `path` is only for messages, `base`
    /// the directory relative paths start from.
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.base = base.to_owned();
        config.validate(path)?;
        Ok(config)
    }

    /// A path from the file, made absolute against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base.join(path)
        }
    }

    /// The document root, resolved.
    pub fn document_root(&self) -> PathBuf {
        self.resolve(&self.server.document_root)
    }

    /// A timeout as a `Duration`.
    pub fn seconds(value: f64) -> Duration {
        Duration::from_secs_f64(value)
    }

    /// Checks values serde cannot.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            message: message.to_owned(),
        };
        if self.server.listen.is_empty() {
            return Err(invalid("server.listen", "at least one address is needed"));
        }
        let root = self.document_root();
        if !root.is_dir() {
            return Err(invalid(
                "server.document_root",
                &format!("{} is not a directory", root.display()),
            ));
        }
        if self
            .server
            .index_files
            .iter()
            .any(|f| f.contains('/') || f.is_empty() || f == "..")
        {
            return Err(invalid(
                "server.index_files",
                "entries must be plain file names",
            ));
        }
        if self.server.max_clients == 0 {
            return Err(invalid("server.max_clients", "must be at least 1"));
        }
        for (key, value) in [
            ("timeouts.header_read", self.timeouts.header_read),
            ("timeouts.idle", self.timeouts.idle),
            ("timeouts.shutdown", self.timeouts.shutdown),
            ("cgi.header_timeout", self.cgi.header_timeout),
            ("cgi.idle_timeout", self.cgi.idle_timeout),
            ("sessions.idle_timeout", self.sessions.idle_timeout),
            ("sessions.sweep_interval", self.sessions.sweep_interval),
        ] {
            if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
                return Err(invalid(
                    key,
                    "must be a number of seconds, more than 0 and at most 86400",
                ));
            }
        }
        if self.limits.max_header < 1024 {
            return Err(invalid("limits.max_header", "must be at least 1024 bytes"));
        }
        if !(self.cache.revalidate.is_finite() && (0.0..=60.0).contains(&self.cache.revalidate)) {
            return Err(invalid(
                "cache.revalidate",
                "must be a number of seconds from 0 to 60",
            ));
        }
        if self.cache.enabled && self.cache.max_entry > self.cache.max_size / 2 {
            // An entry weighs its body plus its key and head, and the
            // cache refuses one that would fill (nearly) all of a shard.
            return Err(invalid(
                "cache.max_entry",
                "cannot be more than half of cache.max_size",
            ));
        }
        if self.log.rotate_size < 1024 {
            return Err(invalid("log.rotate_size", "must be at least 1024 bytes"));
        }
        if self.cgi.max_processes == 0 {
            return Err(invalid("cgi.max_processes", "must be at least 1"));
        }
        if (1..MIN_ADDRESS_SPACE).contains(&self.cgi.address_space) {
            return Err(invalid(
                "cgi.address_space",
                "must be 0 (no limit) or at least 16 MiB (16777216): a script needs room to start",
            ));
        }
        for (key, prefixes) in [
            ("cgi.directories", &self.cgi.directories),
            ("ssi.exec_directories", &self.ssi.exec_directories),
        ] {
            if prefixes
                .iter()
                .any(|p| !p.starts_with('/') || p.contains(".."))
            {
                return Err(invalid(key, "entries must be URL paths starting with /"));
            }
        }
        for (key, extensions) in [
            ("cgi.extensions", &self.cgi.extensions),
            ("php.extensions", &self.php.extensions),
            ("ssi.extensions", &self.ssi.extensions),
        ] {
            if extensions
                .iter()
                .any(|e| e.is_empty() || e.contains(['.', '/']))
            {
                return Err(invalid(key, "entries are extensions without the dot"));
            }
        }
        let cookie = crate::session::CookieSettings {
            name: self.sessions.cookie_name.clone(),
            path: "/".into(),
            secure: self.sessions.secure,
        };
        if let Err(e) = cookie.validate() {
            return Err(invalid("sessions.cookie_name", &e.to_string()));
        }
        let mut prefixes = std::collections::HashSet::new();
        for (i, mount) in self.mounts.iter().enumerate() {
            let key = |field: &str| format!("mount[{i}].{field}");
            let path = &mount.path;
            if !path.starts_with('/')
                || path.len() < 2
                || path.ends_with('/')
                || path.split('/').any(|s| s == ".." || s == ".")
                || !path.bytes().all(|b| b.is_ascii_graphic())
                // Mounts match decoded paths, so an escape could never
                // match; and the path becomes the session cookie's Path,
                // where `;` or `,` would start another attribute.
                || path.contains([';', ',', '%', '?', '#'])
            {
                return Err(invalid(
                    &key("path"),
                    "a URL path like /servlet/visits: starting with /, not ending with one, \
                     without ; , % ? #",
                ));
            }
            if !prefixes.insert(path.clone()) {
                return Err(invalid(&key("path"), "mounted twice"));
            }
            let named = [&mount.servlet, &mount.app, &mount.wsgi]
                .iter()
                .filter(|n| n.is_some())
                .count();
            if named != 1 {
                return Err(invalid(
                    &key("servlet"),
                    "exactly one of servlet, app and wsgi names what is mounted",
                ));
            }
            if let Some(name) = &mount.servlet
                && !SERVLETS.contains(&name.as_str())
            {
                return Err(invalid(
                    &key("servlet"),
                    &format!("unknown servlet {name:?}; known: {}", SERVLETS.join(", ")),
                ));
            }
            if let Some(name) = &mount.app
                && !step02_wsgi::apps::NAMES.contains(&name.as_str())
            {
                return Err(invalid(
                    &key("app"),
                    &format!(
                        "unknown application {name:?}; known: {}",
                        step02_wsgi::apps::NAMES.join(", ")
                    ),
                ));
            }
            if let Some(spec) = &mount.wsgi
                && !spec.contains(':')
            {
                return Err(invalid(&key("wsgi"), "module:callable, e.g. flaskapp:app"));
            }
        }
        if self.server.group.is_some() && self.server.user.is_none() {
            return Err(invalid("server.group", "needs server.user as well"));
        }
        Ok(())
    }
}

/// The smallest `cgi.address_space` accepted: below it, no script could
/// even start (the shell and its libraries alone map a few MiB).
const MIN_ADDRESS_SPACE: u64 = 16 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let base = std::env::temp_dir();
        Config::parse(text, Path::new("test.toml"), &base)
    }

    const MINIMAL: &str = "[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \".\"\n";

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(
            config.server.index_files,
            ["index.html", "index.shtml", "index.php"]
        );
        assert_eq!(config.timeouts.idle, 5.0);
        assert_eq!(config.log.rotate_size, 1024 * 1024);
        assert!(config.cache.enabled);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let text = format!("{MINIMAL}\n[timeouts]\nidle_timout = 3\n");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.contains("idle_timout"), "{message}");
        assert!(message.contains("line 6"), "{message}");
    }

    #[test]
    fn a_bad_value_is_named() {
        let text = format!("{MINIMAL}\n[timeouts]\nidle = \"soon\"\n");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.contains("line 6"), "{message}");
        let text = format!("{MINIMAL}\n[timeouts]\nidle = 0\n");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.contains("`timeouts.idle`"), "{message}");
        let text = MINIMAL.replace("\".\"", "\"/no/such/dir\"");
        assert!(
            parse(&text)
                .unwrap_err()
                .to_string()
                .contains("server.document_root")
        );
        for (size, entry) in [(10, 20), (100, 100), (100, 51)] {
            let text = format!("{MINIMAL}\n[cache]\nmax_size = {size}\nmax_entry = {entry}\n");
            let message = parse(&text).unwrap_err().to_string();
            assert!(
                message.contains("cache.max_entry"),
                "{size} {entry}: {message}"
            );
        }
        let text = format!("{MINIMAL}\n[cache]\nmax_size = 100\nmax_entry = 50\n");
        assert!(parse(&text).is_ok());
        for bad in ["-1", "61", "nan"] {
            let text = format!("{MINIMAL}\n[cache]\nrevalidate = {bad}\n");
            let message = parse(&text).unwrap_err().to_string();
            assert!(message.contains("cache.revalidate"), "{bad}: {message}");
        }
        assert_eq!(parse(MINIMAL).unwrap().cache.revalidate, 1.0);
        let text = format!("{MINIMAL}\n[cache]\nrevalidate = 0.25\n");
        assert_eq!(parse(&text).unwrap().cache.revalidate, 0.25);
    }

    #[test]
    fn dynamic_content_has_safe_defaults_and_checked_values() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.cgi.directories, ["/cgi-bin"]);
        assert_eq!(config.php.binary, PathBuf::from("php-cgi"));
        assert_eq!(config.ssi.extensions, ["shtml"]);
        assert!(!config.ssi.exec, "exec must be off unless asked for");
        assert!(!config.cgi.pass_authorization);
        // No resource limit unless asked for: each costs a fork per script.
        assert_eq!(
            (
                config.cgi.cpu_seconds,
                config.cgi.address_space,
                config.cgi.processes
            ),
            (0, 0, 0)
        );
        for (section, line, key) in [
            ("cgi", "address_space = 1048576", "cgi.address_space"),
            ("cgi", "cpu_seconds = -1", "cpu_seconds"),
            ("cgi", "extensions = [\".cgi\"]", "cgi.extensions"),
            ("cgi", "directories = [\"cgi-bin\"]", "cgi.directories"),
            ("cgi", "max_processes = 0", "cgi.max_processes"),
            ("cgi", "header_timeout = -1", "cgi.header_timeout"),
            (
                "ssi",
                "exec_directories = [\"/a/../b\"]",
                "ssi.exec_directories",
            ),
            ("php", "extensions = [\"\"]", "php.extensions"),
        ] {
            let text = format!("{MINIMAL}\n[{section}]\n{line}\n");
            let message = parse(&text).unwrap_err().to_string();
            assert!(message.contains(key), "{line}: {message}");
        }
    }

    #[test]
    fn relative_paths_start_at_the_file() {
        let config = Config::parse(MINIMAL, Path::new("/etc/x.toml"), Path::new("/etc")).err();
        // /etc/. is a directory, so this parses.
        assert!(config.is_none());
        let config = parse(MINIMAL).unwrap();
        assert_eq!(
            config.resolve(Path::new("logs/a.log")),
            std::env::temp_dir().join("logs/a.log")
        );
        assert_eq!(
            config.resolve(Path::new("/var/a.log")),
            PathBuf::from("/var/a.log")
        );
    }
}
