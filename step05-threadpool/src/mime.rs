//! The mime table: from a file name to its Content-Type, read from a
//! `mime.types` file.
//!
//! The format is the one Debian's `/etc/mime.types` uses (and Apache's and
//! nginx's before it): one media type per line, followed by the extensions
//! that map to it, separated by whitespace; `#` starts a comment.
//!
//! ```text
//! text/html                 html htm shtml
//! application/octet-stream  bin
//! ```
//!
//! Extensions match the *last* extension of the name, case-insensitively;
//! a type listed with no extensions maps nothing; if an extension is listed
//! twice, the last definition wins; an unknown extension gets
//! `application/octet-stream` (nginx's choice — a browser then offers a
//! download rather than guessing).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

/// The type of files with an unknown extension.
pub const DEFAULT_TYPE: &str = "application/octet-stream";

/// The mime table shipped with this step, so it works with no system file.
pub const SHIPPED: &str = include_str!("../mime.types");

/// A parsed mime table.
#[derive(Debug, Clone, Default)]
pub struct MimeTypes {
    /// Lowercase extension (no dot) → media type.
    by_extension: HashMap<String, String>,
    /// Appended to `text/*` types (`; charset=utf-8`), if set.
    text_charset: Option<String>,
}

impl MimeTypes {
    // ANCHOR: parse
    /// Parses `mime.types` text.
    pub fn parse(text: &str) -> MimeTypes {
        let mut by_extension = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let Some(media_type) = words.next() else {
                continue;
            };
            if !media_type.contains('/') {
                continue;
            }
            for extension in words {
                // Later lines win, as in Apache and nginx.
                by_extension.insert(extension.to_ascii_lowercase(), media_type.to_owned());
            }
        }
        MimeTypes {
            by_extension,
            text_charset: Some("utf-8".to_owned()),
        }
    }
    // ANCHOR_END: parse

    /// Reads and parses a `mime.types` file.
    ///
    /// # Errors
    ///
    /// If the file cannot be read.
    pub fn load(path: &Path) -> io::Result<MimeTypes> {
        Ok(Self::parse(&fs::read_to_string(path)?))
    }

    /// Sets (or, with `None`, removes) the charset added to `text/*`.
    pub fn with_text_charset(mut self, charset: Option<&str>) -> Self {
        self.text_charset = charset.map(str::to_owned);
        self
    }

    /// The media type for `path`'s last extension, without parameters.
    pub fn media_type(&self, path: &Path) -> &str {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(|e| self.by_extension.get(&e.to_ascii_lowercase()))
            .map_or(DEFAULT_TYPE, String::as_str)
    }

    /// The `Content-Type` header value for `path`.
    pub fn content_type(&self, path: &Path) -> String {
        let media_type = self.media_type(path);
        match &self.text_charset {
            Some(charset) if media_type.starts_with("text/") => {
                format!("{media_type}; charset={charset}")
            }
            _ => media_type.to_owned(),
        }
    }

    /// How many extensions are known.
    pub fn len(&self) -> usize {
        self.by_extension.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_extension.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_format() {
        let table = MimeTypes::parse(
            "# comment\ntext/html html htm shtml\n\napplication/x-empty\nimage/png png # trailing\ntext/x-old png\n",
        );
        assert_eq!(table.media_type(Path::new("a.HTML")), "text/html");
        assert_eq!(table.media_type(Path::new("dir.x/a.tar.htm")), "text/html");
        // The last definition wins.
        assert_eq!(table.media_type(Path::new("i.png")), "text/x-old");
        assert_eq!(table.media_type(Path::new("noext")), DEFAULT_TYPE);
        assert_eq!(table.media_type(Path::new("x.unknown")), DEFAULT_TYPE);
        assert_eq!(
            table.content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        let plain = table.with_text_charset(None);
        assert_eq!(plain.content_type(Path::new("a.html")), "text/html");
    }

    #[test]
    fn the_shipped_table_knows_the_common_types() {
        let table = MimeTypes::parse(SHIPPED);
        for (name, expected) in [
            ("index.html", "text/html"),
            ("style.css", "text/css"),
            ("app.js", "text/javascript"),
            ("logo.png", "image/png"),
            ("photo.jpeg", "image/jpeg"),
            ("data.json", "application/json"),
            ("doc.pdf", "application/pdf"),
            ("notes.txt", "text/plain"),
            ("icon.svg", "image/svg+xml"),
        ] {
            assert_eq!(table.media_type(Path::new(name)), expected, "{name}");
        }
    }
}
