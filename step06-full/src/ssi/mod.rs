//! Server Side Includes: pages that run small directives as they are served.
//!
//! A `.shtml` page is HTML with directives in comments —
//! `<!--#include virtual="/footer.html" -->`, `<!--#echo var="DATE_LOCAL" -->`,
//! `<!--#if expr="…" -->` — and the server replaces each directive with what
//! it produces before sending the page. This is Apache mod_include's legacy
//! syntax (§3 of the reference), new in this chapter.
//!
//! The engine is pure: it turns the page's bytes into the output bytes and
//! reaches the world (sub-requests, files, programs, the error log) only
//! through the [`Host`] trait, which the server implements. So every rule
//! below is a unit test over bytes, with a mock host.
//!
//! # Layout
//!
//! - [`parse`] — the directive grammar: bytes → text and directives, and
//!   `$NAME` expansion in attribute values.
//! - [`expr`] — the `if`/`elif` expression language: lexer, recursive-descent
//!   parser, evaluation with regex captures.
//! - [`eval`] — the evaluator: elements, `config` state, include variables,
//!   `if` blocks, nesting, and the [`Host`] trait.
//!
//! The entry point is [`evaluate`].

pub mod eval;
pub mod expr;
pub mod parse;

pub use eval::{
    CgiOutput, DEFAULT_ERRMSG, DEFAULT_TIMEFMT, Document, EvalError, FileInfo, Host, Included,
    MAX_INCLUDE_DEPTH, Target, evaluate,
};
