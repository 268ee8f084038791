//! The SSI evaluator: runs a page's directives and writes what they print.
//!
//! [`evaluate`] parses a document ([`super::parse`]) and walks the nodes in
//! order, copying text and executing directives, with one state for the
//! whole request: the `config` settings (`errmsg`, `sizefmt`, `timefmt`,
//! `echomsg`), the variables, and the captures of the last regex match.
//! An SSI document brought in by `include` is run by the same walk, one
//! level deeper (at most [`MAX_INCLUDE_DEPTH`]). Each document keeps its
//! own stack of `if` blocks, so a block must close in the file that opened
//! it; everything else is shared, so a `config` or a `set` in an included
//! file holds for the rest of the page, as the reference asks.
//!
//! Everything that touches the world — sub-requests, files, CGI programs,
//! shell commands, the error log, the clock — goes through the [`Host`]
//! trait, which the server implements. That keeps this file pure: the
//! tests drive it with a mock host and assert on exact bytes.
//!
//! A failing directive never stops the page. It is replaced by errmsg
//! (default `[an error occurred while processing this directive]`), one
//! line goes to the error log through [`Host::log_error`] naming the
//! directive, the document and the line, and evaluation goes on with the
//! next node.
//!
//! The variables a page sees are, in the order they are looked up: the
//! regex captures for the names `0`–`9`; variables set with `set` and the
//! CGI variables the server passed in; then the include variables
//! (`DATE_LOCAL`, `DOCUMENT_NAME`, …), computed when read so that dates
//! follow the current `timefmt`. Include variables always describe the
//! top-level document, even inside nested includes (Apache shares the
//! base document's environment the same way).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::format::{Fixed, Item, StrftimeItems};
use chrono::{DateTime, Local, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use thiserror::Error;

use super::expr::{self, ExprError, Scope};
use super::parse::{self, Directive, MAX_VALUE_BYTES, Node, ParseError, ValueTooLong};

/// What a failing directive prints until `config errmsg` changes it
/// (Apache's text, so pages written for Apache look the same).
pub const DEFAULT_ERRMSG: &str = "[an error occurred while processing this directive]";

/// The default `timefmt`, giving `Sunday, 22-Nov-2026 01:38:25 GMT`.
pub const DEFAULT_TIMEFMT: &str = "%A, %d-%b-%Y %H:%M:%S %Z";

/// What `echo` prints for an unset variable until `config echomsg`.
pub const DEFAULT_ECHOMSG: &str = "(none)";

/// How many documents may be open at once: the top-level page and its
/// nested includes.
///
/// Apache's `LimitInternalRecursion` is 10: a page that includes itself
/// prints ten times, then the error message. Without a cap it would
/// recurse until the stack ran out.
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// The document being evaluated, as the server found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its path on disk. `DOCUMENT_NAME` is the last component, and the
    /// host resolves `include file=` against its directory.
    pub path: PathBuf,
    /// The decoded URL path that named it, e.g. `/news/index.shtml`.
    pub uri: String,
    /// Its modification time, for `LAST_MODIFIED`.
    pub modified: SystemTime,
    /// The raw query string without `?`, `None` when the URL had none.
    pub query: Option<String>,
    /// Extra path after the document's name (`/x.shtml/more` → `/more`).
    pub path_info: String,
    /// The name of the file's owner, for `USER_NAME`; `None` when the
    /// user id has no name.
    pub owner: Option<String>,
}

impl Document {
    /// The file name alone: `t.shtml`.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// What an `include` brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    /// The response body, or the source when `ssi` is set.
    pub body: Vec<u8>,
    /// `Some` when the target is itself an SSI document: `body` is then its
    /// unparsed source, which the evaluator runs one level deeper, and this
    /// describes it for `include file=` inside it and for error messages.
    /// (The include variables keep describing the top-level page.)
    pub ssi: Option<Document>,
}

/// What `fsize`, `flastmod` and `include` point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `file="rel"`: relative to the current document's directory; already
    /// checked to be relative and free of `..`.
    File(String),
    /// `virtual="/url"`: a URL path, resolved by the server like a request.
    Virtual(String),
}

/// The facts `fsize` and `flastmod` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub modified: SystemTime,
}

/// What a CGI program run by `exec cgi` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgiOutput {
    /// Its body, inserted as it is.
    Body(Vec<u8>),
    /// A `Location:` answer; the page gets a link to it instead.
    Location(String),
}

/// Everything the evaluator needs from the outside world.
///
/// The server implements it for one request. The methods are synchronous:
/// SSI evaluation runs on a blocking thread (it reads files and waits for
/// programs), and a plain trait keeps the evaluator free of async. It is
/// object-safe and [`evaluate`] takes `&mut dyn Host`, so the evaluator is
/// compiled once rather than once per host type, and the recursion into
/// nested includes needs no generic plumbing.
///
/// Errors are plain strings: the evaluator only puts them in the error log
/// (the page shows errmsg), so the host says what went wrong in words.
pub trait Host {
    /// Whether `exec` (`cmd` and `cgi`) is allowed for this document.
    fn exec_allowed(&self) -> bool;

    /// `include virtual="/url?q"`: a GET sub-request through the server.
    ///
    /// # Errors
    ///
    /// Why the sub-request failed (not found, forbidden, CGI failure…).
    fn include_virtual(&mut self, url: &str) -> Result<Included, String>;

    /// `include file="rel"`, relative to `current`'s directory. The
    /// evaluator has checked that `relative` is relative and has no `..`.
    ///
    /// # Errors
    ///
    /// Why the file could not be read or served.
    fn include_file(&mut self, current: &Document, relative: &str) -> Result<Included, String>;

    /// Size and modification time for `fsize` and `flastmod`; a
    /// [`Target::File`] is relative to `current`'s directory.
    ///
    /// # Errors
    ///
    /// Why the target could not be examined.
    fn file_info(&mut self, current: &Document, target: &Target) -> Result<FileInfo, String>;

    /// `exec cgi="/url"`: runs the CGI program with the parent request's
    /// `PATH_INFO` and `QUERY_STRING`.
    ///
    /// # Errors
    ///
    /// Why the program could not be run or answered badly.
    fn exec_cgi(&mut self, url: &str) -> Result<CgiOutput, String>;

    /// `exec cmd="…"`: runs `/bin/sh -c command` with `vars` (the include
    /// and CGI variables) as its environment and returns what it printed,
    /// which goes into the page unescaped.
    ///
    /// # Errors
    ///
    /// Why the command could not be run.
    fn exec_cmd(
        &mut self,
        command: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, String>;

    /// Writes one line to the error log.
    fn log_error(&mut self, message: &str);

    /// The current time, for `DATE_LOCAL` and `DATE_GMT`. Read once per
    /// page; tests override it to get fixed dates.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Why a directive failed. Its text goes to the error log; the page shows
/// errmsg.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The directive could not be parsed.
    #[error("malformed directive: {0}")]
    Malformed(ParseError),
    /// `<!--#frobnicate -->`.
    #[error("unknown element `{0}`")]
    UnknownElement(String),
    /// An attribute this element does not take.
    #[error("unknown attribute `{0}`")]
    UnknownAttribute(String),
    /// A required attribute is missing (or, for `set`, out of order).
    #[error("missing attribute {0}")]
    MissingAttribute(&'static str),
    /// An attribute value outside its allowed set.
    #[error("invalid value `{value}` for `{attribute}`")]
    InvalidValue {
        /// The attribute, e.g. `sizefmt`.
        attribute: &'static str,
        /// What was written.
        value: String,
    },
    /// `file=` that is absolute, empty or climbs with `..`.
    #[error("file=\"{0}\" must be a relative path without `..`")]
    ForbiddenPath(String),
    /// `exec` in a document where it is disabled.
    #[error("exec is not allowed for this document")]
    ExecDisabled,
    /// The host could not do what the directive asked.
    #[error("{action}: {reason}")]
    Host {
        /// What was attempted, e.g. `include virtual="/x"`.
        action: String,
        /// The host's explanation.
        reason: String,
    },
    /// The `if`/`elif` expression is invalid.
    #[error("expression: {0}")]
    Expr(#[from] ExprError),
    /// `timefmt` is not a valid strftime format.
    #[error("invalid timefmt `{0}`")]
    InvalidTimefmt(String),
    /// A time that cannot be shown as a calendar date.
    #[error("time out of range")]
    TimeOutOfRange,
    /// An expansion or a `set` value over the cap.
    #[error(transparent)]
    TooLong(#[from] ValueTooLong),
    /// An include beyond [`MAX_INCLUDE_DEPTH`].
    #[error("includes nested deeper than {} levels", MAX_INCLUDE_DEPTH)]
    TooDeep,
    /// `elif`, `else` or `endif` with no open `if`.
    #[error("`{0}` without `if`")]
    NoIf(&'static str),
    /// `elif` or a second `else` after `else`.
    #[error("`{0}` after `else`")]
    AfterElse(&'static str),
    /// The document ended with `if` blocks still open.
    #[error("{0} `if` without `endif` at end of document")]
    MissingEndif(usize),
}

/// Evaluates an SSI document and returns the page.
///
/// `cgi_vars` are the request's CGI variables (`QUERY_STRING`,
/// `HTTP_USER_AGENT`, …); the include variables are computed from
/// `document`. Failing directives print errmsg and are logged through
/// `host`; the page itself always comes back, which is why this returns
/// bytes and not a `Result`. The caller sends them chunked, without
/// `Content-Length`, `Last-Modified` or `ETag`.
pub fn evaluate(
    source: &[u8],
    document: &Document,
    cgi_vars: &BTreeMap<String, String>,
    host: &mut dyn Host,
) -> Vec<u8> {
    let now = host.now();
    let mut evaluator = Evaluator {
        state: State {
            config: Config::default(),
            vars: cgi_vars.clone(),
            captures: Vec::new(),
            top: document,
            now,
        },
        host,
        out: Vec::new(),
    };
    evaluator.run(source, document, 1);
    evaluator.out
}

/// The `config` settings.
struct Config {
    errmsg: String,
    sizefmt: SizeFormat,
    timefmt: String,
    echomsg: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            errmsg: DEFAULT_ERRMSG.to_owned(),
            sizefmt: SizeFormat::Abbrev,
            timefmt: DEFAULT_TIMEFMT.to_owned(),
            echomsg: DEFAULT_ECHOMSG.to_owned(),
        }
    }
}

/// How `fsize` prints a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeFormat {
    /// `  5 `, `1.5K`, `1.9M`: Apache's four-character field.
    Abbrev,
    /// `2,000,000`.
    Bytes,
}

/// Everything shared by the page and its nested includes.
struct State<'a> {
    config: Config,
    /// CGI variables and `set` results; `set` overwrites.
    vars: BTreeMap<String, String>,
    /// `$0`–`$9` from the last successful regex match.
    captures: Vec<Option<String>>,
    /// The top-level document, which the include variables describe.
    top: &'a Document,
    /// The time of the request, for `DATE_LOCAL` and `DATE_GMT`.
    now: SystemTime,
}

/// The include variables, for `printenv` and `exec cmd`.
const INCLUDE_VARS: [&str; 9] = [
    "DATE_LOCAL",
    "DATE_GMT",
    "DOCUMENT_NAME",
    "DOCUMENT_URI",
    "LAST_MODIFIED",
    "QUERY_STRING_UNESCAPED",
    "DOCUMENT_ARGS",
    "DOCUMENT_PATH_INFO",
    "USER_NAME",
];

impl Scope for State<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if let [digit @ b'0'..=b'9'] = name.as_bytes() {
            return self
                .captures
                .get(usize::from(digit - b'0'))
                .cloned()
                .flatten();
        }
        self.vars
            .get(name)
            .cloned()
            .or_else(|| self.include_var(name))
    }

    fn set_captures(&mut self, captures: Vec<Option<String>>) {
        self.captures = captures;
    }
}

impl State<'_> {
    /// An include variable, computed now so that dates use the current
    /// `timefmt`.
    fn include_var(&self, name: &str) -> Option<String> {
        let top = self.top;
        match name {
            "DATE_LOCAL" => self.date(self.now, Zone::Local),
            "DATE_GMT" => self.date(self.now, Zone::Gmt),
            "LAST_MODIFIED" => self.date(top.modified, Zone::Local),
            "DOCUMENT_NAME" => Some(top.name()),
            "DOCUMENT_URI" => Some(top.uri.clone()),
            "DOCUMENT_ARGS" => Some(top.query.clone().unwrap_or_default()),
            "DOCUMENT_PATH_INFO" => Some(top.path_info.clone()),
            "QUERY_STRING_UNESCAPED" => top.query.as_deref().map(unescape_query),
            "USER_NAME" => Some(top.owner.clone().unwrap_or_else(|| "<unknown>".to_owned())),
            _ => None,
        }
    }

    /// A date in the current `timefmt`. `config` refuses invalid formats,
    /// so this fails only for a time chrono cannot represent, and then the
    /// variable reads as unset.
    fn date(&self, time: SystemTime, zone: Zone) -> Option<String> {
        format_time(time, &self.config.timefmt, zone).ok()
    }

    /// Every variable, include variables first so `set` can override them.
    fn environment(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = INCLUDE_VARS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), self.include_var(name)?)))
            .collect();
        env.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// Expands `$NAME` in an attribute value.
    fn expand(&self, raw: &str) -> Result<String, EvalError> {
        Ok(parse::expand(raw, |name| self.get(name))?)
    }
}

/// One open `if` block.
#[derive(Debug, Clone, Copy)]
struct Branch {
    /// Whether the text around the block is printed. When false, the
    /// block is only tracked so its `endif` can be matched.
    outer_active: bool,
    /// Whether the current branch is the one being printed.
    active: bool,
    /// Whether some branch already ran, so later ones must not.
    taken: bool,
    /// Whether `else` was seen, after which only `endif` may come.
    else_seen: bool,
}

/// Where a directive sits, for error messages.
#[derive(Clone, Copy)]
struct Site<'s> {
    document: &'s Document,
    /// 1-based line of the directive's `<!--#`.
    line: usize,
    element: &'s str,
}

/// The walk over one request's documents.
struct Evaluator<'a, 'h> {
    state: State<'a>,
    host: &'h mut dyn Host,
    /// The page so far.
    out: Vec<u8>,
}

impl Evaluator<'_, '_> {
    // ANCHOR: evaluate
    /// Evaluates one document: the top-level page (`depth` 1) or a nested
    /// include.
    fn run(&mut self, source: &[u8], document: &Document, depth: usize) {
        let mut branches: Vec<Branch> = Vec::new();
        // Counted as the walk goes, so that error messages can name a line
        // without rescanning the document for each one.
        let mut line = 1;
        for node in parse::parse(source) {
            // Inside a false branch nothing prints and nothing runs; only
            // `if`/`elif`/`else`/`endif` are still looked at, so that the
            // `endif` closing a nested block is not taken for ours.
            let active = branches.last().is_none_or(|b| b.outer_active && b.active);
            let node_lines = newlines(match &node {
                Node::Text(bytes) => bytes,
                Node::Directive(Directive { span, .. }) | Node::Malformed { span, .. } => {
                    source.get(span.clone()).unwrap_or_default()
                }
            });
            match &node {
                Node::Text(bytes) if active => self.out.extend_from_slice(bytes),
                Node::Malformed { error, .. } if active => {
                    let site = Site {
                        document,
                        line,
                        element: "(malformed)",
                    };
                    self.fail(&site, &EvalError::Malformed(error.clone()));
                }
                Node::Directive(directive) if is_branch(&directive.element) => {
                    let site = Site {
                        document,
                        line,
                        element: &directive.element,
                    };
                    // A broken `if` structure is always logged, and shows
                    // where the text around the block would show.
                    let visible = match directive.element.as_str() {
                        "if" => active,
                        _ => branches.last().is_none_or(|b| b.outer_active),
                    };
                    if let Err(error) = self.branch(directive, &mut branches, active) {
                        self.log(&site, &error);
                        if visible {
                            self.print_errmsg();
                        }
                    }
                }
                Node::Directive(directive) if active => {
                    let site = Site {
                        document,
                        line,
                        element: &directive.element,
                    };
                    if let Err(error) = self.execute(directive, &site, depth) {
                        self.fail(&site, &error);
                    }
                }
                // Anything else sits in a false branch.
                _ => {}
            }
            line += node_lines;
        }
        if !branches.is_empty() {
            let site = Site {
                document,
                line,
                element: "if",
            };
            self.fail(&site, &EvalError::MissingEndif(branches.len()));
        }
    }

    /// Runs one directive other than the `if` family.
    fn execute(
        &mut self,
        directive: &Directive,
        site: &Site<'_>,
        depth: usize,
    ) -> Result<(), EvalError> {
        match directive.element.as_str() {
            "config" => self.config(directive),
            "echo" => self.echo(directive),
            "exec" => self.exec(directive),
            "fsize" | "flastmod" => self.file_info(directive, site),
            "include" => self.include(directive, site, depth),
            "printenv" => self.printenv(directive),
            "set" => self.set(directive),
            "comment" => Ok(()),
            other => Err(EvalError::UnknownElement(other.to_owned())),
        }
    }
    // ANCHOR_END: evaluate

    /// `if`, `elif`, `else`, `endif`: updates the block stack.
    ///
    /// A test that fails to evaluate counts as false after its error is
    /// reported, so the block stays balanced and its `else` still works.
    fn branch(
        &mut self,
        directive: &Directive,
        branches: &mut Vec<Branch>,
        active: bool,
    ) -> Result<(), EvalError> {
        match directive.element.as_str() {
            "if" => {
                if !active {
                    branches.push(Branch {
                        outer_active: false,
                        active: false,
                        taken: true,
                        else_seen: false,
                    });
                    return Ok(());
                }
                let result = self.test(directive);
                let value = result.as_ref().is_ok_and(|v| *v);
                branches.push(Branch {
                    outer_active: true,
                    active: value,
                    taken: value,
                    else_seen: false,
                });
                result.map(drop)
            }
            "elif" => {
                let branch = branches.last_mut().ok_or(EvalError::NoIf("elif"))?;
                if branch.else_seen {
                    return Err(EvalError::AfterElse("elif"));
                }
                if !branch.outer_active || branch.taken {
                    branch.active = false;
                    return Ok(());
                }
                let result = self.test(directive);
                let value = result.as_ref().is_ok_and(|v| *v);
                branch.active = value;
                branch.taken = value;
                result.map(drop)
            }
            "else" => {
                let branch = branches.last_mut().ok_or(EvalError::NoIf("else"))?;
                if branch.else_seen {
                    return Err(EvalError::AfterElse("else"));
                }
                branch.else_seen = true;
                branch.active = !branch.taken;
                branch.taken = true;
                no_attributes(directive)
            }
            _ => {
                branches.pop().ok_or(EvalError::NoIf("endif"))?;
                no_attributes(directive)
            }
        }
    }

    /// The `expr` of an `if` or `elif`.
    fn test(&mut self, directive: &Directive) -> Result<bool, EvalError> {
        let mut source = None;
        for (name, value) in &directive.attributes {
            match name.as_str() {
                "expr" => source = Some(value),
                other => return Err(EvalError::UnknownAttribute(other.to_owned())),
            }
        }
        let source = source.ok_or(EvalError::MissingAttribute("expr"))?;
        let parsed = expr::parse(source)?;
        Ok(parsed.evaluate(&mut self.state)?)
    }

    /// `config errmsg= sizefmt= timefmt= echomsg=`, applied in order.
    fn config(&mut self, directive: &Directive) -> Result<(), EvalError> {
        for (name, raw) in &directive.attributes {
            let value = self.state.expand(raw)?;
            let config = &mut self.state.config;
            match name.as_str() {
                "errmsg" => config.errmsg = value,
                "echomsg" => config.echomsg = value,
                "sizefmt" => {
                    config.sizefmt = match value.to_ascii_lowercase().as_str() {
                        "abbrev" => SizeFormat::Abbrev,
                        "bytes" => SizeFormat::Bytes,
                        _ => {
                            return Err(EvalError::InvalidValue {
                                attribute: "sizefmt",
                                value,
                            });
                        }
                    }
                }
                "timefmt" => {
                    // Checked here, once, so that reading a date later
                    // cannot fail on the format.
                    strftime_items(&value, Zone::Local)?;
                    config.timefmt = value;
                }
                other => return Err(EvalError::UnknownAttribute(other.to_owned())),
            }
        }
        Ok(())
    }

    /// `echo [encoding=…] var=…`, several `var`s allowed; an `encoding`
    /// (or `decoding`) applies to the `var`s written after it.
    fn echo(&mut self, directive: &Directive) -> Result<(), EvalError> {
        let mut encoding = Encoding::Entity;
        let mut decoding = Decoding::None;
        let mut echoed = false;
        for (name, raw) in &directive.attributes {
            match name.as_str() {
                "encoding" => encoding = Encoding::parse(raw)?,
                "decoding" => decoding = Decoding::parse(raw)?,
                "var" => {
                    let var = self.state.expand(raw)?;
                    match self.state.get(&var) {
                        Some(value) => {
                            let text = encoding.apply(&decoding.apply(&value));
                            self.out.extend_from_slice(text.as_bytes());
                        }
                        // echomsg is the author's own HTML: not encoded.
                        None => self
                            .out
                            .extend_from_slice(self.state.config.echomsg.as_bytes()),
                    }
                    echoed = true;
                }
                other => return Err(EvalError::UnknownAttribute(other.to_owned())),
            }
        }
        if echoed {
            Ok(())
        } else {
            Err(EvalError::MissingAttribute("var"))
        }
    }

    /// `set [decoding=…] [encoding=…] var=… value=…`.
    fn set(&mut self, directive: &Directive) -> Result<(), EvalError> {
        let mut decoding = Decoding::None;
        let mut encoding = Encoding::None;
        let mut var: Option<String> = None;
        let mut assigned = false;
        for (name, raw) in &directive.attributes {
            match name.as_str() {
                "decoding" => decoding = Decoding::parse(raw)?,
                "encoding" => encoding = Encoding::parse(raw)?,
                "var" => var = Some(self.state.expand(raw)?),
                "value" => {
                    // Apache's rule: the name must come first.
                    let name = var
                        .clone()
                        .ok_or(EvalError::MissingAttribute("var before value"))?;
                    let value = encoding.apply(&decoding.apply(&self.state.expand(raw)?));
                    // Encoding can triple the length; keep the cap.
                    if value.len() > MAX_VALUE_BYTES {
                        return Err(ValueTooLong.into());
                    }
                    self.state.vars.insert(name, value);
                    assigned = true;
                }
                other => return Err(EvalError::UnknownAttribute(other.to_owned())),
            }
        }
        match (assigned, var) {
            (true, _) => Ok(()),
            (false, None) => Err(EvalError::MissingAttribute("var")),
            (false, Some(_)) => Err(EvalError::MissingAttribute("value")),
        }
    }

    /// `printenv`: every variable as `NAME=value`, one per line, sorted,
    /// entity-escaped.
    fn printenv(&mut self, directive: &Directive) -> Result<(), EvalError> {
        no_attributes(directive)?;
        for (name, value) in self.state.environment() {
            let line = format!("{}={}\n", escape_entity(&name), escape_entity(&value));
            self.out.extend_from_slice(line.as_bytes());
        }
        Ok(())
    }

    /// `exec cmd="…"` or `exec cgi="/url"`.
    fn exec(&mut self, directive: &Directive) -> Result<(), EvalError> {
        if !self.host.exec_allowed() {
            return Err(EvalError::ExecDisabled);
        }
        if directive.attributes.is_empty() {
            return Err(EvalError::MissingAttribute("cmd or cgi"));
        }
        for (name, raw) in &directive.attributes {
            let value = self.state.expand(raw)?;
            match name.as_str() {
                "cmd" => {
                    let env = self.state.environment();
                    let output = self
                        .host
                        .exec_cmd(&value, &env)
                        .map_err(|reason| host_error("exec cmd", &value, reason))?;
                    self.out.extend_from_slice(&output);
                }
                "cgi" => match self
                    .host
                    .exec_cgi(&value)
                    .map_err(|reason| host_error("exec cgi", &value, reason))?
                {
                    CgiOutput::Body(body) => self.out.extend_from_slice(&body),
                    CgiOutput::Location(location) => {
                        // The program chose the URL: escape it for both places.
                        let location = escape_entity(&location);
                        let link = format!("<a href=\"{location}\">{location}</a>");
                        self.out.extend_from_slice(link.as_bytes());
                    }
                },
                other => return Err(EvalError::UnknownAttribute(other.to_owned())),
            }
        }
        Ok(())
    }

    /// `fsize` and `flastmod`, with `file=` or `virtual=` (several allowed).
    fn file_info(&mut self, directive: &Directive, site: &Site<'_>) -> Result<(), EvalError> {
        if directive.attributes.is_empty() {
            return Err(EvalError::MissingAttribute("file or virtual"));
        }
        for (name, raw) in &directive.attributes {
            let target = self.target(name, raw)?;
            let info = self
                .host
                .file_info(site.document, &target)
                .map_err(|reason| target_error(&directive.element, &target, reason))?;
            let text = if directive.element == "fsize" {
                format_size(info.size, self.state.config.sizefmt)
            } else {
                format_time(info.modified, &self.state.config.timefmt, Zone::Local)?
            };
            self.out.extend_from_slice(text.as_bytes());
        }
        Ok(())
    }

    /// `include file=… virtual=… onerror=…`, attributes run in order.
    ///
    /// A failed `file` or `virtual` is logged at once; the next `onerror`
    /// gets a chance to replace it, and if none does (or it fails too) the
    /// page gets errmsg in its place — printed before the next attempt, so
    /// the output keeps the order of the attributes.
    fn include(
        &mut self,
        directive: &Directive,
        site: &Site<'_>,
        depth: usize,
    ) -> Result<(), EvalError> {
        // Check the whole directive first, so a typo late in the list does
        // not leave half of it done.
        for (name, _) in &directive.attributes {
            if !matches!(name.as_str(), "file" | "virtual" | "onerror") {
                return Err(EvalError::UnknownAttribute(name.clone()));
            }
        }
        if !directive
            .attributes
            .iter()
            .any(|(name, _)| name != "onerror")
        {
            return Err(EvalError::MissingAttribute("file or virtual"));
        }
        let mut uncovered = false;
        for (name, raw) in &directive.attributes {
            let target = match name.as_str() {
                "onerror" if !uncovered => continue,
                "onerror" => self.state.expand(raw).map(Target::Virtual),
                _ => {
                    if uncovered {
                        self.print_errmsg();
                    }
                    self.target(name, raw)
                }
            };
            match target.and_then(|target| self.include_one(&target, site, depth)) {
                Ok(()) => uncovered = false,
                Err(error) => {
                    self.log(site, &error);
                    uncovered = true;
                }
            }
        }
        if uncovered {
            self.print_errmsg();
        }
        Ok(())
    }

    /// Inserts one included target, running it one level deeper if it is
    /// itself an SSI document.
    fn include_one(
        &mut self,
        target: &Target,
        site: &Site<'_>,
        depth: usize,
    ) -> Result<(), EvalError> {
        // Checked before asking the host, so a self-including page costs
        // no sub-request past the cap.
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(EvalError::TooDeep);
        }
        let included = match target {
            Target::File(relative) => self.host.include_file(site.document, relative),
            Target::Virtual(url) => self.host.include_virtual(url),
        }
        .map_err(|reason| target_error("include", target, reason))?;
        match included.ssi {
            Some(nested) => self.run(&included.body, &nested, depth + 1),
            None => self.out.extend_from_slice(&included.body),
        }
        Ok(())
    }

    /// A `file=` or `virtual=` attribute as a [`Target`], `file=` checked.
    fn target(&self, name: &str, raw: &str) -> Result<Target, EvalError> {
        let value = self.state.expand(raw)?;
        match name {
            "file" => {
                check_relative(&value)?;
                Ok(Target::File(value))
            }
            "virtual" => Ok(Target::Virtual(value)),
            other => Err(EvalError::UnknownAttribute(other.to_owned())),
        }
    }

    /// Reports a failed directive: errmsg in the page, a line in the log.
    fn fail(&mut self, site: &Site<'_>, error: &EvalError) {
        self.log(site, error);
        self.print_errmsg();
    }

    fn print_errmsg(&mut self) {
        self.out
            .extend_from_slice(self.state.config.errmsg.as_bytes());
    }

    fn log(&mut self, site: &Site<'_>, error: &EvalError) {
        let message = format!(
            "SSI directive `{}` in {} (line {}): {error}",
            site.element, site.document.uri, site.line
        );
        self.host.log_error(&message);
    }
}

/// Whether an element belongs to the `if` family, which is followed even
/// inside false branches.
fn is_branch(element: &str) -> bool {
    matches!(element, "if" | "elif" | "else" | "endif")
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// `else`, `endif` and `printenv` take no attributes.
fn no_attributes(directive: &Directive) -> Result<(), EvalError> {
    match directive.attributes.first() {
        Some((name, _)) => Err(EvalError::UnknownAttribute(name.clone())),
        None => Ok(()),
    }
}

/// The rules for `file=`: relative, not empty, no `..` segment. The host
/// still confines the result to the document root; this is the
/// directive's own rule, as in Apache, and fails early with a clear log.
fn check_relative(path: &str) -> Result<(), EvalError> {
    let forbidden = path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path.split('/').any(|segment| segment == "..");
    if forbidden {
        Err(EvalError::ForbiddenPath(path.to_owned()))
    } else {
        Ok(())
    }
}

fn host_error(action: &str, value: &str, reason: String) -> EvalError {
    EvalError::Host {
        action: format!("{action}=\"{value}\""),
        reason,
    }
}

fn target_error(element: &str, target: &Target, reason: String) -> EvalError {
    match target {
        Target::File(path) => host_error(&format!("{element} file"), path, reason),
        Target::Virtual(url) => host_error(&format!("{element} virtual"), url, reason),
    }
}

/// `echo` and `set` output encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    None,
    Url,
    UrlEncoded,
    Entity,
}

/// `echo` and `set` input decodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoding {
    None,
    Url,
    UrlEncoded,
    Entity,
}

/// Bytes `encoding="url"` leaves alone: Apache's set for a URL path.
const URL_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'$')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'+')
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':')
    .remove(b'@')
    .remove(b'&')
    .remove(b'=')
    .remove(b'/')
    .remove(b'~');

/// Bytes `encoding="urlencoded"` leaves alone (a space then becomes `+`):
/// Apache's set for a query-string value.
const URL_FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'*')
    .remove(b'_')
    .remove(b' ');

impl Encoding {
    fn parse(value: &str) -> Result<Self, EvalError> {
        Ok(match value.to_ascii_lowercase().as_str() {
            "none" => Encoding::None,
            "url" => Encoding::Url,
            "urlencoded" => Encoding::UrlEncoded,
            "entity" => Encoding::Entity,
            _ => {
                return Err(EvalError::InvalidValue {
                    attribute: "encoding",
                    value: value.to_owned(),
                });
            }
        })
    }

    fn apply(self, value: &str) -> String {
        match self {
            Encoding::None => value.to_owned(),
            Encoding::Url => utf8_percent_encode(value, URL_PATH).to_string(),
            // `+` itself is encoded (%2B), so turning spaces into `+`
            // afterwards cannot be confused with a real plus.
            Encoding::UrlEncoded => utf8_percent_encode(value, URL_FORM)
                .to_string()
                .replace(' ', "+"),
            Encoding::Entity => escape_entity(value),
        }
    }
}

impl Decoding {
    fn parse(value: &str) -> Result<Self, EvalError> {
        Ok(match value.to_ascii_lowercase().as_str() {
            "none" => Decoding::None,
            "url" => Decoding::Url,
            "urlencoded" => Decoding::UrlEncoded,
            "entity" => Decoding::Entity,
            _ => {
                return Err(EvalError::InvalidValue {
                    attribute: "decoding",
                    value: value.to_owned(),
                });
            }
        })
    }

    fn apply(self, value: &str) -> String {
        match self {
            Decoding::None => value.to_owned(),
            Decoding::Url => percent_decode_str(value).decode_utf8_lossy().into_owned(),
            Decoding::UrlEncoded => percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned(),
            Decoding::Entity => decode_entities(value),
        }
    }
}

/// Escapes the four characters Apache's entity encoding escapes.
fn escape_entity(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

/// Decodes `&lt; &gt; &amp; &quot; &apos;` and numeric references
/// (`&#60;`, `&#x3C;`); anything else is left as written.
fn decode_entities(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // The longest reference recognised, `&#x10FFFF;`, has 8 characters
        // before its `;`; looking no further keeps this linear.
        let decoded = after
            .char_indices()
            .take(10)
            .find(|(_, c)| *c == ';')
            .and_then(|(end, _)| Some((entity_char(&after[..end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity_char(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// `QUERY_STRING_UNESCAPED`: the query percent-decoded, then made safe to
/// paste into a shell command by a backslash before each special
/// character (Apache's `ap_escape_shell_cmd`).
fn unescape_query(raw: &str) -> String {
    const SHELL_SPECIAL: &str = "&;`'\"|*?~<>^()[]{}$\\\n";
    let decoded = percent_decode_str(raw).decode_utf8_lossy();
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if SHELL_SPECIAL.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Formats a size as `sizefmt` asks.
fn format_size(size: u64, format: SizeFormat) -> String {
    match format {
        SizeFormat::Abbrev => abbreviate_size(size),
        SizeFormat::Bytes => with_thousands(size),
    }
}

/// APR's `apr_strfsize`: always four characters. Under 973 bytes the size
/// is right-aligned in three columns plus a space (`  5 `); above, the unit
/// is the largest that keeps the number under 973, with one decimal below
/// 10 (`1.5K`, `9.9M`) and none from there (` 10K`, `972M`). The odd
/// threshold is what makes `972` the widest number that still fits.
fn abbreviate_size(size: u64) -> String {
    const UNITS: [char; 6] = ['K', 'M', 'G', 'T', 'P', 'E'];
    if size < 973 {
        return format!("{size:>3} ");
    }
    let mut size = size;
    let mut unit = 0;
    loop {
        let remainder = size & 1023;
        size >>= 10;
        if size >= 973 {
            unit += 1;
            continue;
        }
        // u64 sizes end at 16 EiB, so the unit never runs past `E`; APR
        // prints `****` when a size does not fit, and so does this.
        let Some(suffix) = UNITS.get(unit) else {
            return "****".to_owned();
        };
        if size < 9 || (size == 9 && remainder < 973) {
            // Tenths of a unit, rounded: remainder / 1024 * 10, to nearest.
            let mut tenths = (remainder * 5 + 256) / 512;
            if tenths >= 10 {
                size += 1;
                tenths = 0;
            }
            return format!("{size}.{tenths}{suffix}");
        }
        if remainder >= 512 {
            size += 1;
        }
        return format!("{size:>3}{suffix}");
    }
}

/// `2000000` → `2,000,000`.
fn with_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Which clock a date is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// The server's local time zone (`DATE_LOCAL`, `LAST_MODIFIED`,
    /// `flastmod`).
    Local,
    /// UTC, with `%Z` printed as `GMT` (`DATE_GMT`).
    Gmt,
}

/// Formats a time with a strftime format.
///
/// chrono's `format(…).to_string()` panics on an invalid format, so the
/// format is parsed into items first (an invalid one yields `Item::Error`)
/// and the result is written with `write!`, which reports a formatting
/// error instead of panicking.
fn format_time(time: SystemTime, format: &str, zone: Zone) -> Result<String, EvalError> {
    let items = strftime_items(format, zone)?;
    let utc = to_utc(time).ok_or(EvalError::TimeOutOfRange)?;
    let mut out = String::new();
    let written = match zone {
        Zone::Gmt => write!(out, "{}", utc.format_with_items(items.iter())),
        Zone::Local => write!(
            out,
            "{}",
            utc.with_timezone(&Local).format_with_items(items.iter())
        ),
    };
    written.map_err(|_| EvalError::InvalidTimefmt(format.to_owned()))?;
    Ok(out)
}

/// Parses a strftime format, refusing invalid ones.
///
/// chrono prints `%Z` in UTC as `UTC`; Apache (and the reference) print
/// `GMT`, so for [`Zone::Gmt`] the item is replaced by that literal. In
/// local time chrono knows only the offset, so `%Z` prints e.g. `+01:00`
/// rather than a zone abbreviation like `CET`.
fn strftime_items(format: &str, zone: Zone) -> Result<Vec<Item<'_>>, EvalError> {
    StrftimeItems::new(format)
        .map(|item| match item {
            Item::Error => Err(EvalError::InvalidTimefmt(format.to_owned())),
            Item::Fixed(Fixed::TimezoneName) if zone == Zone::Gmt => Ok(Item::Literal("GMT")),
            other => Ok(other),
        })
        .collect()
}

/// A `SystemTime` as a chrono date, or `None` outside chrono's range
/// (chrono's own `From` conversion panics there).
fn to_utc(time: SystemTime) -> Option<DateTime<Utc>> {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => {
            DateTime::from_timestamp(i64::try_from(after.as_secs()).ok()?, after.subsec_nanos())
        }
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).ok()?;
            match before.subsec_nanos() {
                0 => DateTime::from_timestamp(-secs, 0),
                nanos => DateTime::from_timestamp((-secs).checked_sub(1)?, 1_000_000_000 - nanos),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// 2026-11-22 01:38:25 UTC, a Sunday: the reference's example date.
    const NOW: u64 = 1_795_311_505;
    /// 2021-03-04 12:00:00 UTC.
    const MTIME: u64 = 1_614_859_200;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn document(uri: &str) -> Document {
        Document {
            path: PathBuf::from(format!("/srv/www{uri}")),
            uri: uri.to_owned(),
            modified: at(MTIME),
            query: None,
            path_info: String::new(),
            owner: Some("alice".into()),
        }
    }

    /// A server in memory: URL → (body, is SSI), with a log.
    #[derive(Default)]
    struct MockHost {
        exec: bool,
        pages: BTreeMap<String, (Vec<u8>, bool)>,
        sizes: BTreeMap<String, FileInfo>,
        cgi: BTreeMap<String, CgiOutput>,
        log: Vec<String>,
        /// Every host call, in order.
        calls: Vec<String>,
        /// The environment the last `exec cmd` received.
        cmd_env: BTreeMap<String, String>,
    }

    impl MockHost {
        fn page(mut self, url: &str, body: &str, ssi: bool) -> Self {
            self.pages
                .insert(url.to_owned(), (body.as_bytes().to_vec(), ssi));
            self
        }

        fn fetch(&self, url: &str) -> Result<Included, String> {
            let (body, ssi) = self
                .pages
                .get(url)
                .ok_or_else(|| format!("{url} not found"))?;
            Ok(Included {
                body: body.clone(),
                ssi: ssi.then(|| document(url)),
            })
        }
    }

    /// `relative` resolved against `current.uri`'s directory.
    fn resolve(current: &Document, relative: &str) -> String {
        let dir = current.uri.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{relative}")
    }

    impl Host for MockHost {
        fn exec_allowed(&self) -> bool {
            self.exec
        }

        fn include_virtual(&mut self, url: &str) -> Result<Included, String> {
            self.calls.push(format!("virtual {url}"));
            self.fetch(url)
        }

        fn include_file(&mut self, current: &Document, relative: &str) -> Result<Included, String> {
            let url = resolve(current, relative);
            self.calls.push(format!("file {url}"));
            self.fetch(&url)
        }

        fn file_info(&mut self, current: &Document, target: &Target) -> Result<FileInfo, String> {
            let url = match target {
                Target::File(relative) => resolve(current, relative),
                Target::Virtual(url) => url.clone(),
            };
            self.sizes
                .get(&url)
                .copied()
                .ok_or_else(|| format!("{url} not found"))
        }

        fn exec_cgi(&mut self, url: &str) -> Result<CgiOutput, String> {
            self.calls.push(format!("cgi {url}"));
            self.cgi
                .get(url)
                .cloned()
                .ok_or_else(|| format!("{url} not found"))
        }

        fn exec_cmd(
            &mut self,
            command: &str,
            vars: &BTreeMap<String, String>,
        ) -> Result<Vec<u8>, String> {
            self.calls.push(format!("cmd {command}"));
            self.cmd_env = vars.clone();
            match command {
                "fail" => Err("exit status 127".into()),
                _ => Ok(format!("ran[{command}]").into_bytes()),
            }
        }

        fn log_error(&mut self, message: &str) {
            self.log.push(message.to_owned());
        }

        fn now(&self) -> SystemTime {
            at(NOW)
        }
    }

    fn cgi_vars() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("SERVER_NAME".to_owned(), "localhost".to_owned()),
            ("HTML".to_owned(), "<b>&amp;".to_owned()),
        ])
    }

    /// Evaluates `source` as `/t.shtml` and returns the page as a string.
    fn run_with(host: &mut MockHost, doc: &Document, source: &str) -> String {
        let out = evaluate(source.as_bytes(), doc, &cgi_vars(), host);
        String::from_utf8(out).unwrap()
    }

    fn run(source: &str) -> String {
        run_with(&mut MockHost::default(), &document("/t.shtml"), source)
    }

    const E: &str = DEFAULT_ERRMSG;

    /// A date in local time, as the evaluator should print it.
    fn local(secs: u64, format: &str) -> String {
        to_utc(at(secs))
            .unwrap()
            .with_timezone(&Local)
            .format(format)
            .to_string()
    }

    // --- text and expansion ---

    #[test]
    fn text_passes_through_unchanged() {
        assert_eq!(
            run("a $1 ${X} \\$ <!-- c --> b"),
            "a $1 ${X} \\$ <!-- c --> b"
        );
    }

    #[test]
    fn attribute_values_are_expanded() {
        // Verified: value="${DOCUMENT_NAME}_z" gives t.shtml_z.
        assert_eq!(
            run(r#"<!--#set var="v" value="${DOCUMENT_NAME}_z" --><!--#echo var="v" -->"#),
            "t.shtml_z"
        );
        assert_eq!(
            run(r#"<!--#set var="v" value="\$x-$NOPE-$SERVER_NAME" --><!--#echo var="v" -->"#),
            "$x--localhost"
        );
        // The variable name itself is expanded.
        assert_eq!(
            run(r#"<!--#set var="n" value="SERVER_NAME" --><!--#echo var="$n" -->"#),
            "localhost"
        );
    }

    // --- echo ---

    #[test]
    fn echo_unset_prints_none() {
        assert_eq!(run(r#"<!--#echo var="NOPE" -->"#), "(none)");
    }

    #[test]
    fn echo_escapes_entities_by_default() {
        // Verified: <b>&amp; prints as &lt;b&gt;&amp;amp;
        assert_eq!(run(r#"<!--#echo var="HTML" -->"#), "&lt;b&gt;&amp;amp;");
        assert_eq!(
            run(r#"<!--#set var="q" value='say "x"' --><!--#echo var="q" -->"#),
            "say &quot;x&quot;"
        );
    }

    #[test]
    fn echo_encodings() {
        let set = r#"<!--#set var="v" value="a b/c?d&e+f<g>é" -->"#;
        assert_eq!(
            run(&format!(r#"{set}<!--#echo encoding="none" var="v" -->"#)),
            "a b/c?d&e+f<g>é"
        );
        assert_eq!(
            run(&format!(r#"{set}<!--#echo encoding="url" var="v" -->"#)),
            "a%20b/c%3Fd&e+f%3Cg%3E%C3%A9"
        );
        assert_eq!(
            run(&format!(
                r#"{set}<!--#echo encoding="urlencoded" var="v" -->"#
            )),
            "a+b%2Fc%3Fd%26e%2Bf%3Cg%3E%C3%A9"
        );
        assert_eq!(
            run(&format!(r#"{set}<!--#echo encoding="entity" var="v" -->"#)),
            "a b/c?d&amp;e+f&lt;g&gt;é"
        );
    }

    #[test]
    fn echo_encoding_applies_to_later_vars_only() {
        assert_eq!(
            run(r#"<!--#echo var="HTML" encoding="none" var="HTML" -->"#),
            "&lt;b&gt;&amp;amp;<b>&amp;"
        );
    }

    #[test]
    fn echo_decoding() {
        assert_eq!(
            run(r#"<!--#echo decoding="entity" encoding="none" var="HTML" -->"#),
            "<b>&"
        );
    }

    #[test]
    fn echomsg_replaces_none_and_is_not_encoded() {
        assert_eq!(
            run(r#"<!--#config echomsg="<i>unset</i>" --><!--#echo var="NOPE" -->"#),
            "<i>unset</i>"
        );
    }

    #[test]
    fn echo_errors() {
        assert_eq!(run(r#"<!--#echo -->"#), E);
        assert_eq!(run(r#"<!--#echo encoding="none" -->"#), E);
        assert_eq!(run(r#"<!--#echo encoding="base64" var="HTML" -->"#), E);
        assert_eq!(run(r#"<!--#echo name="HTML" -->"#), E);
    }

    // --- config ---

    #[test]
    fn config_errmsg_replaces_the_error_text() {
        assert_eq!(
            run(r#"<!--#nope --><!--#config errmsg="[oops]" --><!--#nope -->"#),
            format!("{E}[oops]")
        );
    }

    #[test]
    fn config_errors_keep_the_old_settings() {
        assert_eq!(run(r#"<!--#config sizefmt="huge" -->"#), E);
        assert_eq!(run(r#"<!--#config colour="red" -->"#), E);
        // Attributes before the bad one still apply.
        assert_eq!(run(r#"<!--#config errmsg="X" bogus="1" -->"#), "X");
    }

    #[test]
    fn invalid_timefmt_is_an_error_not_a_panic() {
        let page = run(
            r#"<!--#config timefmt="%Y" --><!--#config timefmt="%Q %" --><!--#echo var="DATE_GMT" -->"#,
        );
        assert_eq!(page, format!("{E}2026"), "the old timefmt stays");
        assert_eq!(
            format_time(at(NOW), "%", Zone::Gmt),
            Err(EvalError::InvalidTimefmt("%".into()))
        );
    }

    // --- dates and include variables ---

    #[test]
    fn date_gmt_default_format() {
        assert_eq!(
            run(r#"<!--#echo var="DATE_GMT" -->"#),
            "Sunday, 22-Nov-2026 01:38:25 GMT"
        );
    }

    #[test]
    fn date_local_and_last_modified_follow_timefmt() {
        assert_eq!(
            run(
                r#"<!--#config timefmt="%Y-%m-%d %H:%M" --><!--#echo var="DATE_LOCAL" --> <!--#echo var="LAST_MODIFIED" -->"#
            ),
            format!(
                "{} {}",
                local(NOW, "%Y-%m-%d %H:%M"),
                local(MTIME, "%Y-%m-%d %H:%M")
            )
        );
        // The format is applied when the variable is read.
        assert_eq!(
            run(
                r#"<!--#set var="d" value="$DATE_GMT" --><!--#config timefmt="%Y" --><!--#echo var="DATE_GMT" -->|<!--#echo var="d" -->"#
            ),
            "2026|Sunday, 22-Nov-2026 01:38:25 GMT"
        );
    }

    #[test]
    fn document_variables() {
        let mut doc = document("/dir/t.shtml");
        doc.query = Some("a=1".into());
        doc.path_info = "/extra".into();
        let page = run_with(
            &mut MockHost::default(),
            &doc,
            r#"<!--#echo var="DOCUMENT_NAME" -->|<!--#echo var="DOCUMENT_URI" -->|<!--#echo var="DOCUMENT_ARGS" -->|<!--#echo var="DOCUMENT_PATH_INFO" -->|<!--#echo var="USER_NAME" -->"#,
        );
        assert_eq!(page, "t.shtml|/dir/t.shtml|a=1|/extra|alice");
        doc.owner = None;
        doc.query = None;
        let page = run_with(
            &mut MockHost::default(),
            &doc,
            r#"<!--#echo var="USER_NAME" -->|<!--#echo var="DOCUMENT_ARGS" -->"#,
        );
        assert_eq!(page, "&lt;unknown&gt;|");
    }

    #[test]
    fn query_string_unescaped() {
        let mut doc = document("/t.shtml");
        doc.query = Some("a=42&q=x%20y;z".into());
        let page = run_with(
            &mut MockHost::default(),
            &doc,
            r#"<!--#echo encoding="none" var="QUERY_STRING_UNESCAPED" -->"#,
        );
        assert_eq!(page, r"a=42\&q=x y\;z");
        assert_eq!(
            unescape_query("%26%3B%60%27%22%7C%2A%3F%7E%3C%3E%5E%28%29%5B%5D%7B%7D%24%5C%0A+ok"),
            "\\&\\;\\`\\'\\\"\\|\\*\\?\\~\\<\\>\\^\\(\\)\\[\\]\\{\\}\\$\\\\\\\n+ok"
        );
    }

    #[test]
    fn query_string_unescaped_is_unset_without_a_query() {
        assert_eq!(
            run(r#"<!--#echo var="QUERY_STRING_UNESCAPED" -->"#),
            "(none)"
        );
        assert!(!run("<!--#printenv -->").contains("QUERY_STRING_UNESCAPED"));
    }

    #[test]
    fn set_overrides_include_variables() {
        assert_eq!(
            run(r#"<!--#set var="DOCUMENT_NAME" value="x" --><!--#echo var="DOCUMENT_NAME" -->"#),
            "x"
        );
    }

    // --- printenv ---

    #[test]
    fn printenv_lists_everything_sorted_and_escaped() {
        let page = run(r#"<!--#set var="A&B" value="<1>" --><!--#printenv -->"#);
        let lines: Vec<&str> = page.lines().collect();
        assert_eq!(lines[0], "A&amp;B=&lt;1&gt;");
        assert!(lines.contains(&"DATE_GMT=Sunday, 22-Nov-2026 01:38:25 GMT"));
        assert!(lines.contains(&"DOCUMENT_NAME=t.shtml"));
        assert!(lines.contains(&"HTML=&lt;b&gt;&amp;amp;"));
        assert!(lines.contains(&"SERVER_NAME=localhost"));
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        assert_eq!(lines, sorted);
        assert!(page.ends_with('\n'));
        assert_eq!(run(r#"<!--#printenv var="x" -->"#), E);
    }

    // --- set ---

    #[test]
    fn set_decoding_and_encoding() {
        assert_eq!(
            run(r#"<!--#set decoding="url" var="v" value="a%20b" --><!--#echo var="v" -->"#),
            "a b"
        );
        assert_eq!(
            run(
                r#"<!--#set decoding="urlencoded" var="v" value="a+b%2B" --><!--#echo var="v" -->"#
            ),
            "a b+"
        );
        assert_eq!(
            run(
                r#"<!--#set decoding="entity" var="v" value="&lt;&#65;&#x42;&bogus;&" --><!--#echo encoding="none" var="v" -->"#
            ),
            "<AB&bogus;&"
        );
        assert_eq!(
            run(
                r#"<!--#set encoding="entity" var="v" value="<i>" --><!--#echo encoding="none" var="v" -->"#
            ),
            "&lt;i&gt;"
        );
        assert_eq!(
            run(r#"<!--#set encoding="urlencoded" var="v" value="a b&c" --><!--#echo var="v" -->"#),
            "a+b%26c"
        );
        assert_eq!(
            run(r#"<!--#set encoding="url" var="v" value="a b" --><!--#echo var="v" -->"#),
            "a%20b"
        );
        assert_eq!(
            run(
                r#"<!--#set decoding="none" encoding="none" var="v" value="%41" --><!--#echo var="v" -->"#
            ),
            "%41"
        );
    }

    #[test]
    fn set_errors() {
        assert_eq!(
            run(r#"<!--#set value="1" var="v" --><!--#echo var="v" -->"#),
            format!("{E}(none)")
        );
        assert_eq!(run(r#"<!--#set var="v" -->"#), E);
        assert_eq!(run(r#"<!--#set -->"#), E);
        assert_eq!(run(r#"<!--#set var="v" value="1" decoding="rot13" -->"#), E);
        assert_eq!(run(r#"<!--#set var="v" value="1" colour="red" -->"#), E);
    }

    #[test]
    fn set_values_are_capped() {
        // Each set doubles the value; without the cap this would need gigabytes.
        let mut page = String::from(r#"<!--#set var="a" value="xxxxxxxxxxxxxxxx" -->"#);
        for _ in 0..40 {
            page.push_str(r#"<!--#set var="a" value="$a$a" -->"#);
        }
        page.push_str(r#"<!--#if expr="$a" -->set<!--#endif -->"#);
        let out = run(&page);
        assert!(out.ends_with("set"));
        assert_eq!(out.matches(E).count(), 40 - 12);
    }

    // --- exec ---

    #[test]
    fn exec_disabled_prints_errmsg_and_logs() {
        let mut host = MockHost::default();
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#exec cmd="ls" --><!--#exec cgi="/c" -->"#,
        );
        assert_eq!(page, format!("{E}{E}"));
        assert!(host.calls.is_empty());
        assert_eq!(host.log.len(), 2);
        assert!(
            host.log[0].contains("exec is not allowed"),
            "{}",
            host.log[0]
        );
    }

    #[test]
    fn exec_cmd_gets_include_and_cgi_variables() {
        let mut host = MockHost {
            exec: true,
            ..MockHost::default()
        };
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#exec cmd="echo $DOCUMENT_NAME" -->"#,
        );
        assert_eq!(page, "ran[echo t.shtml]");
        assert_eq!(
            host.cmd_env.get("DOCUMENT_NAME").map(String::as_str),
            Some("t.shtml")
        );
        assert_eq!(
            host.cmd_env.get("SERVER_NAME").map(String::as_str),
            Some("localhost")
        );
        assert!(host.cmd_env.contains_key("DATE_LOCAL"));
    }

    #[test]
    fn exec_cgi_body_and_location() {
        let mut host = MockHost {
            exec: true,
            ..MockHost::default()
        };
        host.cgi
            .insert("/body".into(), CgiOutput::Body(b"<p>hi</p>".to_vec()));
        host.cgi.insert(
            "/moved".into(),
            CgiOutput::Location("/new?a=1&b=\"2\"".into()),
        );
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#exec cgi="/body" -->|<!--#exec cgi="/moved" -->"#,
        );
        assert_eq!(
            page,
            "<p>hi</p>|<a href=\"/new?a=1&amp;b=&quot;2&quot;\">/new?a=1&amp;b=&quot;2&quot;</a>"
        );
    }

    #[test]
    fn exec_failures() {
        let mut host = MockHost {
            exec: true,
            ..MockHost::default()
        };
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#exec cmd="fail" --><!--#exec cgi="/none" --><!--#exec -->"#,
        );
        assert_eq!(page, format!("{E}{E}{E}"));
        assert!(
            host.log[0].contains("exec cmd=\"fail\": exit status 127"),
            "{}",
            host.log[0]
        );
        assert!(host.log[0].contains("/t.shtml"));
    }

    // --- fsize and flastmod ---

    fn sized_host() -> MockHost {
        let mut host = MockHost::default();
        for (url, size) in [("/dir/five", 5), ("/dir/k", 1536), ("/big", 2_000_000)] {
            host.sizes.insert(
                url.into(),
                FileInfo {
                    size,
                    modified: at(MTIME),
                },
            );
        }
        host
    }

    #[test]
    fn fsize_abbrev_is_the_default() {
        let page = run_with(
            &mut sized_host(),
            &document("/dir/t.shtml"),
            r#"[<!--#fsize file="five" -->][<!--#fsize file="k" -->][<!--#fsize virtual="/big" -->]"#,
        );
        // "A 5-byte file prints as two spaces, 5, and a space."
        assert_eq!(page, "[  5 ][1.5K][1.9M]");
    }

    #[test]
    fn fsize_bytes() {
        let page = run_with(
            &mut sized_host(),
            &document("/dir/t.shtml"),
            r#"<!--#config sizefmt="bytes" --><!--#fsize virtual="/big" -->|<!--#fsize file="five" -->"#,
        );
        assert_eq!(page, "2,000,000|5");
    }

    #[test]
    fn flastmod_uses_timefmt() {
        let page = run_with(
            &mut sized_host(),
            &document("/dir/t.shtml"),
            r#"<!--#config timefmt="%Y-%m-%d" --><!--#flastmod file="five" -->"#,
        );
        // Verified on Apache: 2021-03-04 (in a zone where noon UTC is that day).
        assert_eq!(page, local(MTIME, "%Y-%m-%d"));
    }

    #[test]
    fn flastmod_of_an_impossible_time_is_an_error() {
        let mut host = MockHost::default();
        host.sizes.insert(
            "/dir/far".into(),
            FileInfo {
                size: 1,
                modified: UNIX_EPOCH + Duration::from_secs(u64::MAX / 2),
            },
        );
        let page = run_with(
            &mut host,
            &document("/dir/t.shtml"),
            r#"<!--#flastmod file="far" -->"#,
        );
        assert_eq!(page, E);
    }

    #[test]
    fn file_attribute_restrictions() {
        for bad in ["../secret", "a/../../b", "..", "/etc/passwd", ""] {
            let mut host = sized_host();
            let source = format!(r#"<!--#fsize file="{bad}" --><!--#include file="{bad}" -->"#);
            let page = run_with(&mut host, &document("/dir/t.shtml"), &source);
            assert_eq!(page, format!("{E}{E}"), "{bad}");
            assert!(host.calls.is_empty(), "the host is never asked for {bad}");
            assert!(host.log[0].contains("relative path"), "{}", host.log[0]);
        }
        // `..` inside a name is not a parent segment.
        let page = run_with(
            &mut sized_host(),
            &document("/t.shtml"),
            r#"<!--#fsize file="dir/five" -->"#,
        );
        assert_eq!(page, "  5 ");
    }

    #[test]
    fn fsize_errors() {
        let page = run_with(
            &mut sized_host(),
            &document("/dir/t.shtml"),
            r#"<!--#fsize --><!--#fsize file="missing" --><!--#flastmod path="x" -->"#,
        );
        assert_eq!(page, format!("{E}{E}{E}"));
    }

    #[test]
    fn abbreviated_sizes_match_apr() {
        let cases = [
            (0, "  0 "),
            (5, "  5 "),
            (972, "972 "),
            (973, "1.0K"),
            (1023, "1.0K"),
            (1024, "1.0K"),
            (1536, "1.5K"),
            (9 * 1024 + 972, "9.9K"),
            (9 * 1024 + 973, " 10K"),
            (10 * 1024, " 10K"),
            (972 * 1024, "972K"),
            (973 * 1024, "1.0M"),
            (2_000_000, "1.9M"),
            (5 * 1024 * 1024 * 1024, "5.0G"),
            (u64::MAX, " 16E"),
        ];
        for (size, expected) in cases {
            assert_eq!(abbreviate_size(size), expected, "{size}");
            assert_eq!(abbreviate_size(size).len(), 4);
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(with_thousands(0), "0");
        assert_eq!(with_thousands(999), "999");
        assert_eq!(with_thousands(1000), "1,000");
        assert_eq!(with_thousands(2_000_000), "2,000,000");
        assert_eq!(with_thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    // --- include ---

    #[test]
    fn include_virtual_and_file() {
        let mut host = MockHost::default()
            .page("/plain.html", "<p>plain</p>", false)
            .page("/dir/part.html", "part", false);
        let page = run_with(
            &mut host,
            &document("/dir/t.shtml"),
            r#"[<!--#include virtual="/plain.html" -->][<!--#include file="part.html" -->]"#,
        );
        assert_eq!(page, "[<p>plain</p>][part]");
        assert_eq!(host.calls, ["virtual /plain.html", "file /dir/part.html"]);
    }

    #[test]
    fn nested_ssi_shares_state_and_sees_the_top_document() {
        let mut host = MockHost::default().page(
            "/inc/nested.shtml",
            r#"{<!--#echo var="DOCUMENT_URI" -->,<!--#echo var="v" --><!--#set var="w" value="from-child" --><!--#config errmsg="!" -->}"#,
            true,
        );
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#set var="v" value="from-parent" --><!--#include virtual="/inc/nested.shtml" --><!--#echo var="w" --><!--#bad -->"#,
        );
        assert_eq!(page, "{/t.shtml,from-parent}from-child!");
    }

    #[test]
    fn nested_file_includes_resolve_against_the_nested_document() {
        let mut host = MockHost::default()
            .page(
                "/a/inner.shtml",
                r#"<!--#include file="leaf.txt" -->"#,
                true,
            )
            .page("/a/leaf.txt", "leaf", false);
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#include virtual="/a/inner.shtml" -->"#,
        );
        assert_eq!(page, "leaf");
        assert_eq!(host.calls, ["virtual /a/inner.shtml", "file /a/leaf.txt"]);
    }

    #[test]
    fn include_onerror_replaces_a_failure() {
        let mut host = MockHost::default().page("/fallback.html", "fallback", false);
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#include virtual="/missing" onerror="/fallback.html" -->"#,
        );
        assert_eq!(page, "fallback");
        assert_eq!(host.log.len(), 1, "the covered failure is still logged");
        assert!(
            host.log[0].contains("/missing not found"),
            "{}",
            host.log[0]
        );
    }

    #[test]
    fn include_onerror_is_skipped_after_success() {
        let mut host = MockHost::default()
            .page("/ok", "ok", false)
            .page("/fallback", "fb", false);
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#include virtual="/ok" onerror="/fallback" -->"#,
        );
        assert_eq!(page, "ok");
        assert_eq!(host.calls, ["virtual /ok"]);
    }

    #[test]
    fn include_failures_without_cover_print_errmsg_in_order() {
        let mut host = MockHost::default().page("/ok", "ok", false);
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#include virtual="/missing" virtual="/ok" virtual="/gone" onerror="/also-gone" -->"#,
        );
        assert_eq!(page, format!("{E}ok{E}"));
        assert_eq!(
            host.calls,
            [
                "virtual /missing",
                "virtual /ok",
                "virtual /gone",
                "virtual /also-gone"
            ]
        );
        assert_eq!(host.log.len(), 3);
    }

    #[test]
    fn include_onerror_before_its_target_does_nothing() {
        let mut host = MockHost::default().page("/fb", "fb", false);
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#include onerror="/fb" virtual="/missing" -->"#,
        );
        assert_eq!(page, E);
    }

    #[test]
    fn include_errors() {
        let page =
            run(r#"<!--#include --><!--#include onerror="/x" --><!--#include page="/x" -->"#);
        assert_eq!(page, format!("{E}{E}{E}"));
    }

    #[test]
    fn self_include_stops_at_depth_ten() {
        let mut host = MockHost::default().page(
            "/self.shtml",
            r#"X<!--#include virtual="/self.shtml" -->Y"#,
            true,
        );
        let page = run_with(
            &mut host,
            &document("/self.shtml"),
            r#"X<!--#include virtual="/self.shtml" -->Y"#,
        );
        assert_eq!(page, format!("{}{E}{}", "X".repeat(10), "Y".repeat(10)));
        assert_eq!(host.calls.len(), 9, "no sub-request past the cap");
        assert!(
            host.log[0].contains("nested deeper than 10"),
            "{}",
            host.log[0]
        );
    }

    #[test]
    fn included_documents_must_balance_their_own_ifs() {
        let mut host = MockHost::default().page("/open.shtml", r#"<!--#if expr="1" -->in"#, true);
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#include virtual="/open.shtml" -->after<!--#endif -->"#,
        );
        assert_eq!(page, format!("in{E}after{E}"));
    }

    // --- if / elif / else / endif ---

    #[test]
    fn if_else_branches() {
        let page = |test: &str| {
            run(&format!(
                r#"<!--#if expr="{test}" -->A<!--#elif expr="$SERVER_NAME = localhost" -->B<!--#else -->C<!--#endif -->."#
            ))
        };
        assert_eq!(page("1"), "A.");
        assert_eq!(page("''"), "B.");
        assert_eq!(
            run(r#"<!--#if expr="" -->A<!--#else -->C<!--#endif -->"#),
            format!("{E}C")
        );
        assert_eq!(
            run(r#"<!--#if expr="''" -->A<!--#elif expr="''" -->B<!--#else -->C<!--#endif -->"#),
            "C"
        );
        assert_eq!(
            run(r#"<!--#if expr="a" -->A<!--#elif expr="b" -->B<!--#endif -->"#),
            "A"
        );
    }

    #[test]
    fn verified_expressions() {
        assert_eq!(
            run(r#"<!--#if expr="100 < 20" -->yes<!--#else -->no<!--#endif -->"#),
            "yes"
        );
        assert_eq!(
            run(
                r#"<!--#if expr="(foo = bar) || !(1 = 2) && abc" -->yes<!--#else -->no<!--#endif -->"#
            ),
            "yes"
        );
    }

    #[test]
    fn regex_captures_are_readable_with_echo() {
        let mut doc = document("/t.shtml");
        doc.query = Some("id=42".into());
        let page = run_with(
            &mut MockHost::default(),
            &doc,
            r#"<!--#if expr="$DOCUMENT_ARGS = /id=([0-9]+)/" -->[<!--#echo var="1" -->|<!--#echo var="0" -->|<!--#echo var="2" -->|${1}]<!--#endif --><!--#set var="v" value="n$1" --><!--#echo var="v" -->"#,
        );
        assert_eq!(page, "[42|id=42|(none)|${1}]n42");
    }

    #[test]
    fn false_branches_run_nothing() {
        let mut host = MockHost {
            exec: true,
            ..MockHost::default()
        };
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            r#"<!--#if expr="''" --><!--#set var="v" value="1" --><!--#exec cmd="ls" --><!--#nope --><!--#echo --><!--#endif --><!--#echo var="v" -->"#,
        );
        assert_eq!(page, "(none)");
        assert!(host.calls.is_empty());
        assert!(host.log.is_empty());
    }

    #[test]
    fn nested_ifs_inside_false_branches_are_tracked() {
        let page = run(concat!(
            r#"<!--#if expr="''" -->"#,
            r#"a<!--#if expr="1" -->b<!--#else -->c<!--#endif -->d"#,
            r#"<!--#else -->"#,
            r#"e<!--#if expr="''" -->f<!--#elif expr="1" -->g<!--#endif -->h"#,
            r#"<!--#endif -->i"#,
        ));
        assert_eq!(page, "eghi");
    }

    #[test]
    fn nested_if_expressions_in_false_branches_are_not_evaluated() {
        // A bad expression is only an error if it is actually tested.
        assert_eq!(
            run(r#"<!--#if expr="''" --><!--#if expr="((" -->x<!--#endif --><!--#endif -->ok"#),
            "ok"
        );
    }

    #[test]
    fn unbalanced_ifs() {
        assert_eq!(run("a<!--#endif -->b"), format!("a{E}b"));
        assert_eq!(run("a<!--#else -->b"), format!("a{E}b"));
        assert_eq!(run(r#"a<!--#elif expr="1" -->b"#), format!("a{E}b"));
        assert_eq!(run(r#"<!--#if expr="1" -->a"#), format!("a{E}"));
        assert_eq!(
            run(r#"<!--#if expr="''" -->a"#),
            E,
            "reported even when the block is false"
        );
        // A misplaced `else` or `elif` is reported and otherwise ignored, like
        // any failing directive: the `else` branch goes on.
        assert_eq!(
            run(r#"<!--#if expr="''" -->a<!--#else -->b<!--#else -->c<!--#endif -->"#),
            format!("b{E}c")
        );
        assert_eq!(
            run(r#"<!--#if expr="''" -->a<!--#else -->b<!--#elif expr="1" -->c<!--#endif -->"#),
            format!("b{E}c")
        );
    }

    #[test]
    fn if_errors() {
        assert_eq!(
            run(r#"<!--#if -->a<!--#else -->b<!--#endif -->"#),
            format!("{E}b")
        );
        assert_eq!(run(r#"<!--#if test="1" -->a<!--#endif -->"#), E);
        assert_eq!(run(r#"<!--#if expr="'open" -->a<!--#endif -->"#), E);
        assert_eq!(
            run(r#"<!--#if expr="1" -->a<!--#endif x="1" -->"#),
            format!("a{E}")
        );
    }

    #[test]
    fn hostile_expressions_do_not_crash() {
        let deep = format!(
            "<!--#if expr=\"{}a{}\" -->x<!--#endif -->",
            "(".repeat(4000),
            ")".repeat(4000)
        );
        assert_eq!(run(&deep), E);
        let regex = r#"<!--#if expr="a = /(a{1000}){1000}{1000}/" -->x<!--#endif -->"#;
        assert_eq!(run(regex), E);
        let bad = r#"<!--#if expr="a = /(/" -->x<!--#endif -->"#;
        assert_eq!(run(bad), E);
    }

    // --- other elements and errors ---

    #[test]
    fn comment_prints_nothing() {
        assert_eq!(run("a<!--#comment anything at all, it's fine -->b"), "ab");
    }

    #[test]
    fn unknown_element() {
        let mut host = MockHost::default();
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            "a\nb<!--#frobnicate x=\"1\" -->c",
        );
        assert_eq!(page, format!("a\nb{E}c"));
        assert_eq!(
            host.log,
            ["SSI directive `frobnicate` in /t.shtml (line 2): unknown element `frobnicate`"]
        );
    }

    #[test]
    fn log_lines_count_newlines_inside_directives() {
        let mut host = MockHost::default();
        let source =
            "x\n<!--#set var=\"a\"\n value=\"b\" -->\n<!--#nope -->\n<!--#if expr=\"1\" -->\n";
        let page = run_with(&mut host, &document("/t.shtml"), source);
        assert_eq!(page, format!("x\n\n{E}\n\n{E}"));
        assert!(host.log[0].contains("(line 4)"), "{}", host.log[0]);
        assert!(host.log[1].contains("(line 6)"), "{}", host.log[1]);
    }

    #[test]
    fn malformed_directives() {
        let mut host = MockHost::default();
        let page = run_with(
            &mut host,
            &document("/t.shtml"),
            "a<!--#echo var -->b<!--#echo var=\"HTML\" ",
        );
        assert_eq!(page, format!("a{E}b{E}"));
        assert_eq!(host.log.len(), 2);
        assert!(host.log[1].contains("not closed"), "{}", host.log[1]);
    }

    #[test]
    fn unterminated_directive_does_not_swallow_the_next() {
        assert_eq!(
            run(r#"a<!--#echo var="HTML" b<!--#echo var="SERVER_NAME" -->c"#),
            format!("a{E}localhostc")
        );
    }

    #[test]
    fn times_outside_chrono_are_errors() {
        assert_eq!(to_utc(UNIX_EPOCH + Duration::from_secs(u64::MAX / 2)), None);
        assert_eq!(
            to_utc(UNIX_EPOCH - Duration::from_secs(1)).map(|d| d.timestamp()),
            Some(-1)
        );
        assert_eq!(
            to_utc(UNIX_EPOCH - Duration::from_millis(1500)).map(|d| d.timestamp_millis()),
            Some(-1500)
        );
        assert_eq!(
            format_time(
                UNIX_EPOCH + Duration::from_secs(u64::MAX / 2),
                "%Y",
                Zone::Local
            ),
            Err(EvalError::TimeOutOfRange)
        );
    }

    #[test]
    fn extreme_dates_format_without_panicking() {
        let max = DateTime::<Utc>::MAX_UTC.timestamp();
        let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(max).unwrap());
        for zone in [Zone::Local, Zone::Gmt] {
            assert!(format_time(time, DEFAULT_TIMEFMT, zone).is_ok());
        }
    }
}
