//! CGI/1.1: a program per request, spoken to through its environment and
//! three pipes.
//!
//! The Common Gateway Interface (RFC 3875) is the oldest way for a web
//! server to run code: for each request, start a program, describe the
//! request in environment variables (the *meta-variables*: the same names
//! chapter 2's WSGI environ used), write the request body to its stdin,
//! and read the response from its stdout — a block of header lines, a
//! blank line, the body. PHP's `php-cgi` speaks it too, so PHP pages are
//! CGI scripts with php-cgi as the program.
//!
//! It is chapter 3's process-per-connection model again, one level up: a
//! process per *request*, with all the hygiene that chapter taught (no
//! leaked descriptors, every child reaped, a bound on how many run).
//!
//! # Layout
//!
//! - [`meta`] — the meta-variables: chapter 2's environ builder plus
//!   `SCRIPT_FILENAME`, `DOCUMENT_ROOT`, `PATH_TRANSLATED`.
//! - [`output`] — parsing what the script prints: the header block,
//!   `Status`, `Location` and local redirects, injection checks.
//! - [`process`] — running the script: spawn, feed and drain at once,
//!   timeouts that kill its process group, reaping, the response.

pub mod meta;
pub mod output;
pub mod process;
