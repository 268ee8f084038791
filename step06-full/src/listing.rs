//! Directory listings: the page nginx's autoindex shows, with every name
//! escaped for the place it lands in.
//!
//! When a directory has no index file and listings are enabled, the server
//! answers with a page of links, one per entry ([`render`]). File names are
//! chosen by whoever can write to the document root, so they are untrusted
//! input, and each lands in two different languages:
//!
//! - in the `href`, a name is a URL path segment: every byte outside the
//!   unreserved set (`A-Z a-z 0-9 - . _ ~`) is percent-encoded, taken from
//!   the raw bytes of the name, so `a&b` cannot start an HTML entity, `a:b`
//!   cannot be read as a URL scheme, and a name that is not UTF-8 still
//!   links to exactly that file;
//! - in the visible text, a name is HTML: `& < > " '` are escaped, so
//!   `<script>` is shown, not run, and bytes that are not UTF-8 are shown
//!   as `�`.
//!
//! Which entries appear is decided by [`read_entries`]: dotfiles are hidden
//! (as nginx does), and so is anything the server would refuse to serve —
//! above all a symbolic link that leads out of the document root, which
//! the listing must not even name. Chapter 5 answered such a directory with
//! 404; the listing is new in this chapter.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use step01_iterative::response::escape_html;
use step05_threadpool::confine::Root;

/// The bytes an `href` may carry as they are: RFC 3986's unreserved set.
///
/// Everything else is encoded — more than a path strictly needs (`&`, `:`,
/// `=` are legal in a path), but each of those means something somewhere:
/// `&` in HTML, `:` before the first slash of a relative URL.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How wide the size column is, right-aligned: room for 999 GB in bytes.
/// A larger size still prints, one line out of step.
const SIZE_WIDTH: usize = 12;

/// One line of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name in the directory, as raw bytes: not necessarily UTF-8.
    pub name: OsString,
    /// A directory (or a link to one inside the root): listed with a `/`
    /// and first.
    pub is_dir: bool,
    /// The size in bytes (of the target, for a link). Shown for files
    /// only: a directory's size says nothing useful.
    pub size: u64,
    /// The modification time (of the target, for a link).
    pub modified: SystemTime,
}

// ANCHOR: read_entries
/// The entries of `dir` that a listing may show, in listing order.
///
/// `dir` should come from [`Root::resolve`]; it is checked again here, so
/// a caller that passed a path outside the root gets an error, not a
/// listing. Hidden, in this order:
///
/// 1. names starting with `.` (`.git`, `.htpasswd`, editors' swap files);
/// 2. symbolic links that are broken, or whose target resolves outside
///    the root — the same test as [`Root::resolve`], so the listing shows
///    exactly the links a click on them would be allowed to follow;
/// 3. anything that is neither a regular file nor a directory (FIFOs,
///    sockets, devices): there is nothing to serve in them, and opening a
///    FIFO would block until some writer came along.
///
/// Links inside the root are followed: they are listed with the kind,
/// size and date of what they point to. Directories come first, then
/// names in ascending byte order — case-sensitive, so `Zeta` comes before
/// `alpha`, as in Apache and nginx — which makes the page the same on
/// every call whatever order the file system returns.
///
/// # Errors
///
/// `NotFound` if `dir` does not exist or lies outside the root; any error
/// from reading the directory itself. An entry that vanishes while it is
/// being looked at is left out rather than failing the whole listing.
pub fn read_entries(dir: &Path, root: &Root) -> io::Result<Vec<Entry>> {
    let dir = fs::canonicalize(dir)?;
    if !dir.starts_with(root.path()) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the directory is outside the document root",
        ));
    }
    let mut entries = Vec::new();
    for item in fs::read_dir(&dir)? {
        let item = item?;
        let name = item.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        if let Some(entry) = servable(&item, name, root) {
            entries.push(entry);
        }
    }
    entries.sort_by(|a, b| {
        // `true > false`, so comparing b with a puts directories first.
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
    });
    Ok(entries)
}
// ANCHOR_END: read_entries

/// The entry for `item` if the server would serve it, else `None`.
fn servable(item: &fs::DirEntry, name: OsString, root: &Root) -> Option<Entry> {
    // `file_type` does not follow links, so a link is seen as a link.
    let metadata = if item.file_type().ok()?.is_symlink() {
        // Resolve it as `Root::resolve` would; `canonicalize` fails on a
        // broken link, which hides it too.
        let target = fs::canonicalize(item.path()).ok()?;
        if !target.starts_with(root.path()) {
            return None;
        }
        fs::metadata(&target).ok()?
    } else {
        // Not a link, in a directory under the root: under the root too.
        item.metadata().ok()?
    };
    if !metadata.is_dir() && !metadata.is_file() {
        return None;
    }
    Some(Entry {
        name,
        is_dir: metadata.is_dir(),
        size: metadata.len(),
        // Every Unix file system keeps an mtime; the epoch is a harmless
        // stand-in should one not.
        modified: metadata.modified().unwrap_or(UNIX_EPOCH),
    })
}

// ANCHOR: render
/// The HTML page listing `entries` for the directory at `url_path`, to be
/// sent as `text/html; charset=utf-8`.
///
/// `url_path` is the path as the client sent it, still percent-encoded
/// and ending in `/` (the server redirects to add it): it is shown
/// decoded and HTML-escaped in the `<title>` and `<h1>`, as nginx does.
/// The links are relative to it — `href="name"` — so the page works
/// wherever the root is mounted. Every directory but `/` gets a `../`
/// link to its parent.
///
/// The layout follows nginx's autoindex, one entry per line in a `<pre>`,
/// padded so that the dates line up on screen:
///
/// ```text
/// <a href="../">../</a>
/// <a href="subd/">subd/</a>        20-Nov-2026 01:35             -
/// <a href="b%26c%20%3Cd%3E.txt">b&amp;c &lt;d&gt;.txt</a>  20-Nov-2026 01:35             0
/// ```
///
/// with the date in UTC and the size in bytes (`-` for a directory).
pub fn render(url_path: &str, entries: &[Entry]) -> String {
    let shown = escape_html(&percent_decode_str(url_path).decode_utf8_lossy());
    let mut page = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Index of {shown}</title>\n</head>\n<body>\n\
         <h1>Index of {shown}</h1>\n<hr>\n<pre>\n"
    );
    if !url_path.trim_matches('/').is_empty() {
        page.push_str("<a href=\"../\">../</a>\n");
    }

    let rows: Vec<Row> = entries.iter().map(Row::new).collect();
    // Pad to the longest name so the dates line up. The padding counts
    // characters as shown, not the escaped text: `&amp;` is one column.
    let width = rows.iter().map(|row| row.columns).max().unwrap_or(0);
    for (row, entry) in rows.iter().zip(entries) {
        let padding = width - row.columns + 2;
        let date = column_date(entry.modified);
        let size = if entry.is_dir {
            "-".to_string()
        } else {
            entry.size.to_string()
        };
        // Writing to a String cannot fail.
        let _ = writeln!(
            page,
            "<a href=\"{href}\">{text}</a>{spaces}{date}  {size:>SIZE_WIDTH$}",
            href = row.href,
            text = row.text,
            spaces = " ".repeat(padding),
        );
    }
    page.push_str("</pre>\n<hr>\n</body>\n</html>\n");
    page
}
// ANCHOR_END: render

/// One entry's name, escaped twice: once for the URL, once for the eye.
struct Row {
    /// Percent-encoded from the raw bytes, `/` added for a directory.
    href: String,
    /// HTML-escaped from the name read as UTF-8 (lossily).
    text: String,
    /// How many characters `text` occupies on screen.
    columns: usize,
}

impl Row {
    fn new(entry: &Entry) -> Row {
        let slash = if entry.is_dir { "/" } else { "" };
        let href = format!(
            "{}{slash}",
            percent_encode(entry.name.as_bytes(), UNRESERVED)
        );
        let visible = format!("{}{slash}", entry.name.to_string_lossy());
        Row {
            href,
            text: escape_html(&visible),
            columns: visible.chars().count(),
        }
    }
}

/// A time as `06-Nov-1994 08:49` in UTC, or `-` if chrono cannot represent
/// it (a file can claim any date at all, hundreds of millennia away).
fn column_date(time: SystemTime) -> String {
    let seconds = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).ok(),
        // Before 1970: round down to the whole second, then negate.
        Err(before) => {
            let before = before.duration();
            let up = u64::from(before.subsec_nanos() > 0);
            before
                .as_secs()
                .checked_add(up)
                .and_then(|secs| i64::try_from(secs).ok())
                .map(|secs| -secs)
        }
    };
    match seconds.and_then(|secs| DateTime::from_timestamp(secs, 0)) {
        // The format string is fixed and valid, so formatting cannot fail.
        Some(date) => date.format("%d-%b-%Y %H:%M").to_string(),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    /// Sun, 06 Nov 1994 08:49:37 GMT.
    fn nov_1994() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    fn file(name: &str, size: u64) -> Entry {
        Entry {
            name: name.into(),
            is_dir: false,
            size,
            modified: nov_1994(),
        }
    }

    fn dir(name: &str) -> Entry {
        Entry {
            is_dir: true,
            ..file(name, 4096)
        }
    }

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .collect()
    }

    // ANCHOR: escaping
    #[test]
    fn names_are_escaped_for_href_and_for_text() {
        let page = render("/dir/", &[file("b&c <d>.txt", 0)]);
        assert!(
            page.contains("<a href=\"b%26c%20%3Cd%3E.txt\">b&amp;c &lt;d&gt;.txt</a>"),
            "{page}"
        );
        let page = render("/dir/", &[file("\"quoted\" 'too'", 0)]);
        assert!(
            page.contains(
                "<a href=\"%22quoted%22%20%27too%27\">&quot;quoted&quot; &#39;too&#39;</a>"
            ),
            "{page}"
        );
    }

    #[test]
    fn a_colon_cannot_become_a_scheme() {
        let page = render("/dir/", &[file("javascript:alert(1)", 0)]);
        assert!(
            page.contains("<a href=\"javascript%3Aalert%281%29\">javascript:alert(1)</a>"),
            "{page}"
        );
    }

    #[test]
    fn non_utf8_names_keep_their_bytes_in_the_href() {
        let entry = Entry {
            name: OsString::from_vec(b"caf\xe9.txt".to_vec()),
            ..file("", 0)
        };
        let page = render("/dir/", &[entry]);
        assert!(
            page.contains("<a href=\"caf%E9.txt\">caf\u{fffd}.txt</a>"),
            "{page}"
        );
    }
    // ANCHOR_END: escaping

    #[test]
    fn unreserved_bytes_stay_as_they_are() {
        let page = render("/", &[file("A-z_0.9~", 0)]);
        assert!(page.contains("<a href=\"A-z_0.9~\">A-z_0.9~</a>"), "{page}");
    }

    #[test]
    fn title_heading_and_parent_link() {
        let page = render("/a%20%3Cb%3E/", &[]);
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(
            page.contains("<title>Index of /a &lt;b&gt;/</title>"),
            "{page}"
        );
        assert!(page.contains("<h1>Index of /a &lt;b&gt;/</h1>"), "{page}");
        assert!(page.contains("<a href=\"../\">../</a>"), "{page}");
    }

    #[test]
    fn no_parent_link_at_the_root() {
        let page = render("/", &[file("a.txt", 1)]);
        assert!(page.contains("<title>Index of /</title>"), "{page}");
        assert!(!page.contains("../"), "{page}");
    }

    #[test]
    fn columns_for_date_and_size() {
        let page = render("/d/", &[dir("subd"), file("a.txt", 12)]);
        assert!(
            page.contains("<a href=\"subd/\">subd/</a>  06-Nov-1994 08:49             -\n"),
            "{page}"
        );
        assert!(
            page.contains("<a href=\"a.txt\">a.txt</a>  06-Nov-1994 08:49            12\n"),
            "{page}"
        );
    }

    #[test]
    fn impossible_dates_do_not_panic() {
        assert_eq!(column_date(UNIX_EPOCH), "01-Jan-1970 00:00");
        assert_eq!(
            column_date(UNIX_EPOCH - Duration::from_millis(1)),
            "31-Dec-1969 23:59"
        );
        // Far beyond chrono's range (about 262,000 years).
        let far = UNIX_EPOCH + Duration::from_secs(1 << 62);
        assert_eq!(column_date(far), "-");
    }

    /// A document root with a `public` directory inside, and a `secret`
    /// file next to the root, outside it.
    fn tree() -> (tempfile::TempDir, Root) {
        let top = tempfile::tempdir().unwrap();
        let public = top.path().join("public");
        fs::create_dir(&public).unwrap();
        fs::write(top.path().join("secret"), "outside").unwrap();
        let root = Root::new(&public).unwrap();
        (top, root)
    }

    // ANCHOR: sorting_test
    #[test]
    fn directories_first_then_byte_order() {
        let (_top, root) = tree();
        let at = root.path();
        for name in ["alpha", "Zeta", "beta", "_under"] {
            fs::write(at.join(name), name).unwrap();
        }
        for name in ["zdir", "Adir"] {
            fs::create_dir(at.join(name)).unwrap();
        }
        let entries = read_entries(at, &root).unwrap();
        assert_eq!(
            names(&entries),
            ["Adir", "zdir", "Zeta", "_under", "alpha", "beta"]
        );
        assert!(entries[0].is_dir && entries[1].is_dir && !entries[2].is_dir);
        assert_eq!(entries[2].size, 4);
    }
    // ANCHOR_END: sorting_test

    #[test]
    fn dotfiles_are_hidden() {
        let (_top, root) = tree();
        let at = root.path();
        fs::write(at.join(".htpasswd"), "x").unwrap();
        fs::create_dir(at.join(".git")).unwrap();
        fs::write(at.join("shown"), "x").unwrap();
        assert_eq!(names(&read_entries(at, &root).unwrap()), ["shown"]);
    }

    // ANCHOR: symlink_test
    #[test]
    fn links_out_of_the_root_are_hidden() {
        let (top, root) = tree();
        let at = root.path();
        symlink(top.path().join("secret"), at.join("escape")).unwrap();
        symlink("../secret", at.join("relative-escape")).unwrap();
        symlink(top.path(), at.join("escape-dir")).unwrap();
        symlink("nowhere", at.join("broken")).unwrap();
        fs::create_dir(at.join("sub")).unwrap();
        fs::write(at.join("sub/inner.txt"), "twelve bytes").unwrap();
        symlink("sub", at.join("link-dir")).unwrap();
        symlink("sub/inner.txt", at.join("link-file")).unwrap();

        let entries = read_entries(at, &root).unwrap();
        assert_eq!(names(&entries), ["link-dir", "sub", "link-file"]);
        // Links inside the root are followed: the kind and size of the target.
        assert!(entries[0].is_dir);
        assert_eq!(entries[2].size, 12);
    }
    // ANCHOR_END: symlink_test

    #[test]
    fn fifos_are_hidden() {
        let (_top, root) = tree();
        let at = root.path();
        nix::unistd::mkfifo(&at.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        fs::write(at.join("file"), "x").unwrap();
        assert_eq!(names(&read_entries(at, &root).unwrap()), ["file"]);
    }

    #[test]
    fn a_directory_outside_the_root_is_refused() {
        let (top, root) = tree();
        let error = read_entries(top.path(), &root).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let through_link = root.path().join("up");
        symlink(top.path(), &through_link).unwrap();
        assert!(read_entries(&through_link, &root).is_err());
    }

    #[test]
    fn non_utf8_names_are_listed() {
        let (_top, root) = tree();
        let at = root.path();
        let name = OsString::from_vec(b"caf\xe9".to_vec());
        fs::write(at.join(&name), "x").unwrap();
        let entries = read_entries(at, &root).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, name);
        assert!(render("/", &entries).contains("href=\"caf%E9\""));
    }
}
