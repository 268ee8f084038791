//! The SSI directive grammar: a document's bytes become text and directives.
//!
//! An SSI page is ordinary HTML with directives hidden in comments:
//! `<!--#echo var="DATE_LOCAL" -->`. [`parse`] splits the bytes into
//! [`Node`]s — text to copy as it is, and directives (an element name and
//! its attributes, in order) for the evaluator. Values are kept raw here:
//! `$NAME` is expanded by [`expand`] when the directive runs, because a
//! `set` earlier in the page may change what it means.
//!
//! Parsing a document never fails as a whole. A page is written by a person
//! and a typo in one directive must not take the page down, so a directive
//! that cannot be read becomes [`Node::Malformed`], which the evaluator
//! prints as the error message (Apache's behaviour), and parsing carries on
//! after it. The one hard question is where "after" is when the closing
//! `-->` never comes. Apache swallows the rest of the file; here an
//! unterminated directive ends where the scan for its `-->` stopped: at the
//! next `<!--#` (so the following directive still runs), at the end of the
//! document, or after [`MAX_DIRECTIVE_BYTES`]. Text after that point is
//! kept, so a forgotten `-->` costs at most that many bytes of the page.
//!
//! The grammar is written by hand rather than with a parser library: the
//! tolerant rules below (three quote styles, optional whitespace, Apache's
//! backslash rule) are the lesson of this section.

use std::ops::Range;

use thiserror::Error;

/// The token that opens a directive. `<!--#` is one token: `<!-- #echo`
/// is an ordinary HTML comment and passes through untouched.
pub const OPEN: &[u8] = b"<!--#";

/// The token that closes a directive.
pub const CLOSE: &[u8] = b"-->";

/// The longest directive accepted, in bytes from `<!--#` to `-->`.
///
/// 8 KiB is Apache 1.3's `MAX_STRING_LEN` for a tag, far more than any
/// real directive needs. The cap bounds how much of the page a directive
/// with a missing `-->` can swallow.
pub const MAX_DIRECTIVE_BYTES: usize = 8 * 1024;

/// The longest string an expansion may produce, in bytes.
///
/// Without a cap, `<!--#set var="a" value="$a$a" -->` repeated thirty times
/// asks for a gigabyte. 64 KiB is far more than any variable a page echoes
/// (request headers are capped at 8 KiB each).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// One piece of a parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Bytes outside directives, copied to the output unchanged.
    Text(Vec<u8>),
    /// A directive that was read completely.
    Directive(Directive),
    /// A directive that could not be read; it prints the error message.
    Malformed {
        /// Where it sits in the source: from `<!--#` to where parsing resumed.
        span: Range<usize>,
        /// What was wrong, for the error log.
        error: ParseError,
    },
}

/// `<!--#element name="value" … -->`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The element, lowercased: `echo`, `include`, `if`, …
    pub element: String,
    /// The attributes in the order written (order matters: `encoding`
    /// applies to the `var`s after it), names lowercased, values raw —
    /// quotes removed but `$NAME` not yet expanded.
    pub attributes: Vec<(String, String)>,
    /// Byte range in the source, `<!--#` to `-->` inclusive; the evaluator
    /// turns its start into a line number for the error log.
    pub span: Range<usize>,
}

/// Why a directive could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// `<!--# -->`: nothing names the element.
    #[error("directive has no element name")]
    MissingElement,
    /// `<!--#echo ="x" -->`: an `=` with no name before it.
    #[error("attribute has no name")]
    MissingName,
    /// `<!--#echo var -->`: a name with no `=value`.
    #[error("attribute `{0}` has no value")]
    MissingValue(String),
    /// The document, or the next directive, begins before this one's `-->`.
    #[error("directive is not closed with `-->`")]
    Unterminated,
    /// No `-->` within [`MAX_DIRECTIVE_BYTES`].
    #[error("directive is longer than {} bytes", MAX_DIRECTIVE_BYTES)]
    TooLong,
}

/// An expansion that would exceed [`MAX_VALUE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expanded value is longer than {} bytes", MAX_VALUE_BYTES)]
pub struct ValueTooLong;

// ANCHOR: parse
/// Splits a document into text and directives.
///
/// The grammar, with `ws` any ASCII whitespace:
///
/// ```text
/// directive = "<!--#" ws* element (ws* attribute)* ws* "-->"
/// attribute = name ws* "=" ws* value
/// value     = '"' … '"' | "'" … "'" | "`" … "`" | unquoted
/// ```
///
/// An element or name ends at whitespace, `=` (names only) or `-->`; an
/// unquoted value at whitespace or `-->`. Inside quotes `-->` is ordinary
/// text and a backslash before the quote character stands for the quote
/// (`"say \"hi\""`); any other backslash is kept, so that `\$` reaches
/// [`expand`]. The body of `comment` is free text up to `-->`.
///
/// Never fails: see the module documentation for how broken directives
/// are represented.
pub fn parse(source: &[u8]) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut pos = 0;
    while pos < source.len() {
        let Some(start) = find(source, pos, OPEN) else {
            nodes.push(Node::Text(source[pos..].to_vec()));
            break;
        };
        if start > pos {
            nodes.push(Node::Text(source[pos..start].to_vec()));
        }
        let (node, resume) = directive(source, start);
        nodes.push(node);
        // `directive` always consumes at least `<!--#`, so the loop advances.
        pos = resume;
    }
    nodes
}

/// Reads the directive whose `<!--#` is at `start`; returns it and the
/// offset where text resumes.
fn directive(source: &[u8], start: usize) -> (Node, usize) {
    // The cursor cannot see past the size cap, so a missing `-->` stops
    // the scan there instead of at the end of a large document.
    let limit = source.len().min(start.saturating_add(MAX_DIRECTIVE_BYTES));
    let mut cursor = Cursor {
        bytes: source.get(..limit).unwrap_or(source),
        pos: start + OPEN.len(),
    };
    match cursor.directive_body() {
        Ok((element, attributes)) => {
            let end = cursor.pos;
            let span = start..end;
            let directive = Directive {
                element,
                attributes,
                span,
            };
            (Node::Directive(directive), end)
        }
        Err(error) => {
            let (error, resume) = match error {
                // Resume exactly where the scan stopped: at the next `<!--#`,
                // or at the cap, or at the end of the document.
                ParseError::Unterminated if cursor.at_end() && limit < source.len() => {
                    (ParseError::TooLong, cursor.pos)
                }
                ParseError::Unterminated => (error, cursor.pos),
                // The directive is finished but wrong inside: skip to its end.
                other => (other, cursor.recover()),
            };
            let span = start..resume;
            (Node::Malformed { span, error }, resume)
        }
    }
}

/// A position in the bytes of one directive.
struct Cursor<'a> {
    /// The source, cut at the directive's size cap.
    bytes: &'a [u8],
    /// The next byte to read; never past `bytes.len()`.
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The element and the attributes, up to and including `-->`.
    fn directive_body(&mut self) -> Result<(String, Vec<(String, String)>), ParseError> {
        self.skip_whitespace();
        let element = lowercase(self.word(|_| false));
        if element.is_empty() {
            return Err(if self.at(CLOSE) {
                ParseError::MissingElement
            } else {
                ParseError::Unterminated
            });
        }
        if element == "comment" {
            // A comment's body is prose, not attributes: `it's` must not
            // open a quote.
            return self.skip_to_close().map(|()| (element, Vec::new()));
        }
        let mut attributes = Vec::new();
        loop {
            self.skip_whitespace();
            if self.at(CLOSE) {
                self.pos += CLOSE.len();
                return Ok((element, attributes));
            }
            if self.at_end() || self.at(OPEN) {
                return Err(ParseError::Unterminated);
            }
            let name = lowercase(self.word(|b| b == b'='));
            if name.is_empty() {
                return Err(ParseError::MissingName);
            }
            self.skip_whitespace();
            if !self.eat(b'=') {
                return Err(ParseError::MissingValue(name));
            }
            self.skip_whitespace();
            let value = match self.peek() {
                Some(quote @ (b'"' | b'\'' | b'`')) => {
                    self.pos += 1;
                    self.quoted(quote)?
                }
                _ => String::from_utf8_lossy(self.word(|_| false)).into_owned(),
            };
            attributes.push((name, value));
        }
    }

    /// A quoted value, the opening quote already read.
    fn quoted(&mut self, quote: u8) -> Result<String, ParseError> {
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ParseError::Unterminated),
                Some(b) if b == quote => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&value).into_owned());
                }
                // Apache's rule: only the quote character can be escaped;
                // every other backslash is part of the value.
                Some(b'\\') if self.rest().get(1) == Some(&quote) => {
                    value.push(quote);
                    self.pos += 2;
                }
                Some(b) => {
                    value.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// An element, name or unquoted value: bytes up to whitespace, `-->`,
    /// `<!--#`, the end, or a byte for which `also_stop` is true.
    fn word(&mut self, also_stop: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || also_stop(b) || self.at(CLOSE) || self.at(OPEN) {
                break;
            }
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    /// Moves just past the next `-->`.
    fn skip_to_close(&mut self) -> Result<(), ParseError> {
        while !self.at_end() && !self.at(OPEN) {
            if self.at(CLOSE) {
                self.pos += CLOSE.len();
                return Ok(());
            }
            self.pos += 1;
        }
        Err(ParseError::Unterminated)
    }

    /// After a syntax error inside a directive: the offset just past its
    /// `-->`, or where the scan for it stopped.
    fn recover(&mut self) -> usize {
        let _ = self.skip_to_close();
        self.pos
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    fn at(&self, token: &[u8]) -> bool {
        self.rest().starts_with(token)
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }
}
// ANCHOR_END: parse

/// Expands `$NAME` and `${NAME}` in an attribute value.
///
/// A name is made of ASCII letters, digits and `_`; `${…}` allows any
/// name and separates it from text that follows (`${NAME}_z`). `\$` is a
/// literal `$`, every other backslash stays as it is, a `$` not followed
/// by a name is literal, and so is a `${` that is never closed. `lookup`
/// answers `None` for an undefined variable, which expands to nothing.
///
/// # Errors
///
/// [`ValueTooLong`] if the result would exceed [`MAX_VALUE_BYTES`].
pub fn expand(raw: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, ValueTooLong> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['\\', '$']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("\\$") {
            out.push('$');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('\\') {
            out.push('\\');
            rest = after;
        } else if let Some(braced) = tail.strip_prefix("${") {
            match braced.split_once('}') {
                Some((name, after)) => {
                    out.push_str(&lookup(name).unwrap_or_default());
                    rest = after;
                }
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            }
        } else {
            let after_dollar = &tail[1..];
            let len = after_dollar
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after_dollar.len());
            let (name, after) = after_dollar.split_at(len);
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(&lookup(name).unwrap_or_default());
            }
            rest = after;
        }
        // Checked as we go, so one expansion of many large variables stops
        // early instead of building the whole string first.
        if out.len() > MAX_VALUE_BYTES {
            return Err(ValueTooLong);
        }
    }
    out.push_str(rest);
    if out.len() > MAX_VALUE_BYTES {
        return Err(ValueTooLong);
    }
    Ok(out)
}

/// The first `needle` at or after `from`.
fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| from + i)
}

/// Element and attribute names are case-insensitive, as in Apache.
fn lowercase(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(element: &str, attributes: &[(&str, &str)], span: Range<usize>) -> Node {
        Node::Directive(Directive {
            element: element.to_owned(),
            attributes: attributes
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            span,
        })
    }

    fn text(s: &str) -> Node {
        Node::Text(s.as_bytes().to_vec())
    }

    /// The attributes of the only directive in `source`.
    fn attributes(source: &str) -> Vec<(String, String)> {
        let nodes = parse(source.as_bytes());
        match nodes.as_slice() {
            [Node::Directive(d)] => d.attributes.clone(),
            other => panic!("expected one directive, got {other:?}"),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn text_alone_is_one_node() {
        assert_eq!(
            parse(b"<p>$1 &amp; <!-- a comment --></p>"),
            [text("<p>$1 &amp; <!-- a comment --></p>")]
        );
        assert_eq!(parse(b""), []);
    }

    #[test]
    fn directive_between_text() {
        let source = "a<!--#echo var=\"X\" -->b";
        assert_eq!(
            parse(source.as_bytes()),
            [
                text("a"),
                directive("echo", &[("var", "X")], 1..22),
                text("b"),
            ]
        );
    }

    #[test]
    fn three_quote_styles_and_unquoted() {
        assert_eq!(
            attributes(r#"<!--#x a="1 2" b='3 4' c=`5 6` d=7 -->"#),
            pairs(&[("a", "1 2"), ("b", "3 4"), ("c", "5 6"), ("d", "7")])
        );
    }

    #[test]
    fn backslash_escapes_only_the_quote_character() {
        assert_eq!(
            attributes(r#"<!--#x a="say \"hi\"" b='it\'s' c="\$x \n" d="a\\"b" -->"#),
            pairs(&[
                ("a", r#"say "hi""#),
                ("b", "it's"),
                ("c", r"\$x \n"),
                ("d", r#"a\"b"#),
            ])
        );
        // Unquoted values take backslashes literally.
        assert_eq!(attributes(r"<!--#x a=\$b -->"), pairs(&[("a", r"\$b")]));
    }

    #[test]
    fn whitespace_is_tolerated_everywhere() {
        assert_eq!(
            attributes("<!--#  echo\n\tvar = \"X\"  encoding=\t'none'-->"),
            pairs(&[("var", "X"), ("encoding", "none")])
        );
        // No whitespace between attributes, none before `-->`.
        assert_eq!(
            attributes(r#"<!--#echo a="1"b="2"-->"#),
            pairs(&[("a", "1"), ("b", "2")])
        );
        assert_eq!(attributes("<!--#echo a=1-->"), pairs(&[("a", "1")]));
    }

    #[test]
    fn names_are_lowercased_values_are_not() {
        assert_eq!(
            parse(br#"<!--#ECHO VAR="Mixed" -->"#),
            [directive("echo", &[("var", "Mixed")], 0..25)]
        );
    }

    #[test]
    fn close_inside_quotes_is_text() {
        assert_eq!(
            attributes(r#"<!--#set var="a" value="x-->y" -->"#),
            pairs(&[("var", "a"), ("value", "x-->y")])
        );
    }

    #[test]
    fn element_without_attributes() {
        assert_eq!(parse(b"<!--#endif-->"), [directive("endif", &[], 0..13)]);
        assert_eq!(parse(b"<!--#else -->"), [directive("else", &[], 0..13)]);
    }

    #[test]
    fn comment_body_is_free_text() {
        assert_eq!(
            parse(b"<!--#comment it's \"free\" = text -->z"),
            [directive("comment", &[], 0..35), text("z"),]
        );
    }

    #[test]
    fn html_comment_with_space_is_not_a_directive() {
        assert_eq!(
            parse(b"<!-- #echo var=\"x\" -->"),
            [text("<!-- #echo var=\"x\" -->")]
        );
    }

    #[test]
    fn missing_element() {
        assert_eq!(
            parse(b"<!--# -->z"),
            [
                Node::Malformed {
                    span: 0..9,
                    error: ParseError::MissingElement
                },
                text("z"),
            ]
        );
    }

    #[test]
    fn missing_value_skips_to_the_end_of_the_directive() {
        assert_eq!(
            parse(b"<!--#echo var -->z"),
            [
                Node::Malformed {
                    span: 0..17,
                    error: ParseError::MissingValue("var".into())
                },
                text("z"),
            ]
        );
        assert_eq!(
            parse(b"<!--#echo =\"x\" -->z"),
            [
                Node::Malformed {
                    span: 0..18,
                    error: ParseError::MissingName
                },
                text("z"),
            ]
        );
    }

    #[test]
    fn unterminated_at_end_of_document() {
        assert_eq!(
            parse(b"a<!--#echo var=\"x\" "),
            [
                text("a"),
                Node::Malformed {
                    span: 1..19,
                    error: ParseError::Unterminated
                },
            ]
        );
        assert_eq!(
            parse(b"<!--#echo var=\"x"),
            [Node::Malformed {
                span: 0..16,
                error: ParseError::Unterminated
            }]
        );
        assert_eq!(
            parse(b"<!--#"),
            [Node::Malformed {
                span: 0..5,
                error: ParseError::Unterminated
            }]
        );
    }

    #[test]
    fn unterminated_stops_at_the_next_directive() {
        assert_eq!(
            parse(b"<!--#echo var=\"a\" <!--#echo var=\"b\" -->z"),
            [
                Node::Malformed {
                    span: 0..18,
                    error: ParseError::Unterminated
                },
                directive("echo", &[("var", "b")], 18..39),
                text("z"),
            ]
        );
    }

    #[test]
    fn too_long_loses_at_most_the_cap() {
        let mut source = b"<!--#echo var=\"".to_vec();
        source.extend(std::iter::repeat_n(b'x', 2 * MAX_DIRECTIVE_BYTES));
        let nodes = parse(&source);
        assert_eq!(
            nodes[0],
            Node::Malformed {
                span: 0..MAX_DIRECTIVE_BYTES,
                error: ParseError::TooLong
            }
        );
        assert_eq!(
            nodes[1],
            Node::Text(vec![b'x'; source.len() - MAX_DIRECTIVE_BYTES])
        );
    }

    #[test]
    fn directive_at_exactly_the_cap_is_accepted() {
        let filler = "x".repeat(MAX_DIRECTIVE_BYTES - "<!--#c a=\"\" -->".len());
        let source = format!("<!--#c a=\"{filler}\" -->");
        assert_eq!(source.len(), MAX_DIRECTIVE_BYTES);
        assert_eq!(attributes(&source), pairs(&[("a", &filler)]));
    }

    #[test]
    fn non_utf8_is_kept_in_text_and_replaced_in_values() {
        let nodes = parse(b"\xff<!--#echo var=\"\xfe\" -->");
        assert_eq!(nodes[0], Node::Text(vec![0xff]));
        assert!(matches!(&nodes[1], Node::Directive(d) if d.attributes[0].1 == "\u{fffd}"));
    }

    fn vars(name: &str) -> Option<String> {
        match name {
            "DOCUMENT_NAME" => Some("t.shtml".into()),
            "A" => Some("1".into()),
            "1" => Some("one".into()),
            _ => None,
        }
    }

    #[test]
    fn expand_names_and_braces() {
        assert_eq!(expand("${DOCUMENT_NAME}_z", vars).unwrap(), "t.shtml_z");
        assert_eq!(expand("$DOCUMENT_NAME_z", vars).unwrap(), "");
        assert_eq!(expand("[$A]$A-$1", vars).unwrap(), "[1]1-one");
        assert_eq!(expand("é$A", vars).unwrap(), "é1");
    }

    #[test]
    fn expand_undefined_is_empty() {
        assert_eq!(expand("<$NOPE>${NOPE}", vars).unwrap(), "<>");
    }

    #[test]
    fn expand_escapes_and_literals() {
        assert_eq!(expand(r"\$A costs \5", vars).unwrap(), r"$A costs \5");
        assert_eq!(expand("$ and $-", vars).unwrap(), "$ and $-");
        assert_eq!(expand("${A", vars).unwrap(), "${A");
        assert_eq!(expand("${}", vars).unwrap(), "");
        assert_eq!(expand("end$", vars).unwrap(), "end$");
    }

    #[test]
    fn expand_is_capped() {
        let big = |_: &str| Some("x".repeat(MAX_VALUE_BYTES / 2 + 1));
        assert_eq!(expand("$A", big).unwrap().len(), MAX_VALUE_BYTES / 2 + 1);
        assert_eq!(expand("$A$A", big), Err(ValueTooLong));
        assert_eq!(
            expand(&"y".repeat(MAX_VALUE_BYTES + 1), vars),
            Err(ValueTooLong)
        );
    }
}
