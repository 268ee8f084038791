//! The legacy `expr` language of `if` and `elif`: words, comparisons,
//! regexes and `! && ||`, from text to a truth value.
//!
//! `<!--#if expr="$QUERY_STRING = /id=([0-9]+)/ && !($1 = 0)" -->` is
//! handled in three stages, as any small language is:
//!
//! 1. the lexer cuts the text into tokens — operators, words, `'quoted
//!    strings'` and `/regexes/`;
//! 2. a recursive-descent parser builds an [`Expr`] tree from them;
//! 3. [`Expr::evaluate`] walks the tree against a [`Scope`] — the page's
//!    variables — and answers true or false.
//!
//! The grammar is Apache mod_include's legacy one (§3.4 of the reference),
//! with its two surprises. First, `&&` and `||` have the **same**
//! precedence and group left to right, so `a || b && c` means
//! `(a || b) && c`. Second, strings are compared byte by byte like C's
//! `strcmp`, so `100 < 20` is true: `'1'` sorts before `'2'`.
//!
//! Variables are expanded when the expression is evaluated, token by
//! token, not when the attribute is read: a `$` inside a value can
//! therefore never be taken for an operator, and `$1` after a regex sees
//! the captures of that very regex. Regexes are not expanded at all, so
//! `$` in `/^a$/` stays an anchor. Apache uses PCRE; the `regex` crate's
//! syntax is the same for everything but backreferences and lookaround,
//! which it rejects.
//!
//! Apache short-circuits `&&` and `||` but still runs every regex, so that
//! `$0`…`$9` are filled whichever way the test went. Evaluating an operand
//! has no effect other than filling captures (expansion only reads), so
//! "short-circuit, except for regexes" is exactly the same as "evaluate
//! every operand, left to right, and combine the results" — which is what
//! [`Expr::evaluate`] does, with no special case to get wrong.
//!
//! Expressions come from page authors, and a hostile one must cost little:
//! nesting of `(` and `!` is capped at [`MAX_DEPTH`] so recursion cannot
//! overflow the stack, `&&`/`||` chains are stored flat rather than as a
//! deep tree, and regexes compile under size limits.

use std::fmt;

use regex::{Regex, RegexBuilder};
use thiserror::Error;

use super::parse::{ValueTooLong, expand};

/// How deeply `(` and `!` may nest.
///
/// The parser and the evaluator recurse once per level; 32 is far beyond
/// any hand-written condition and a tiny fraction of a thread's stack.
pub const MAX_DEPTH: usize = 32;

/// The most memory a compiled regex (and its lazy DFA cache) may use.
///
/// A pattern like `(a{1000}){1000}` asks for a huge program; the limit
/// turns it into a compile error instead of an allocation of gigabytes.
pub const MAX_REGEX_BYTES: usize = 1 << 20;

/// How deeply a regex's own groups may nest (the crate's parser recurses).
pub const MAX_REGEX_NESTING: u32 = 64;

/// How many captures a regex match exposes: `$0` (the whole match) to `$9`.
pub const CAPTURES: usize = 10;

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExprError {
    /// `expr=""`: there is nothing to test.
    #[error("empty expression")]
    Empty,
    /// A `'` or `/` that is never closed.
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    /// A token where the grammar does not allow it.
    #[error("unexpected {0}")]
    Unexpected(String),
    /// The expression stops where more was needed.
    #[error("expression ends where {0} was expected")]
    UnexpectedEnd(&'static str),
    /// `(` or `!` nested deeper than [`MAX_DEPTH`].
    #[error("expression nests deeper than {} levels", MAX_DEPTH)]
    TooDeep,
    /// `a < /re/`: regexes only go with `=` and `!=`.
    #[error("a regex can only follow `=` or `!=`, not `{0}`")]
    RegexOperator(CmpOp),
    /// The regex does not compile (syntax, or over the size limits).
    #[error("invalid regex: {0}")]
    Regex(String),
    /// A string grew too long while expanding variables.
    #[error(transparent)]
    TooLong(#[from] ValueTooLong),
}

/// What evaluating an expression needs from the page: variables to read,
/// and somewhere to put regex captures.
pub trait Scope {
    /// The value of a variable, `None` when it is not set. Names `0`–`9`
    /// are the captures of the last successful match.
    fn get(&self, name: &str) -> Option<String>;

    /// Records the captures of a successful match: `CAPTURES` entries,
    /// `None` for a group that did not take part (or does not exist).
    fn set_captures(&mut self, captures: Vec<Option<String>>);
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A bare string: true when it expands to something non-empty.
    Truthy(Text),
    /// `left op right`, comparing the expanded strings.
    Compare {
        /// The left operand.
        left: Text,
        /// `=`, `!=`, `<`, …
        op: CmpOp,
        /// The right operand.
        right: Text,
    },
    /// `left = /re/` (or `!=` when `negate`); fills the captures on a match.
    Match {
        /// The string searched.
        left: Text,
        /// The compiled pattern.
        regex: Regex,
        /// True for `!=`.
        negate: bool,
    },
    /// `!operand`.
    Not(Box<Expr>),
    /// `first op operand op operand …`, combined left to right.
    Chain {
        /// The leftmost operand.
        first: Box<Expr>,
        /// Each following operator and operand, in order.
        rest: Vec<(Logic, Expr)>,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// `&&` or `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logic {
    /// `&&`.
    And,
    /// `||`.
    Or,
}

/// A string operand as written: adjacent words already joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(Vec<Piece>);

/// Part of a [`Text`]: characters to expand, or characters that were
/// escaped with a backslash and must come out exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// May contain `$NAME` or `${NAME}`.
    Raw(String),
    /// Taken literally (`\$` or `\'` in the source).
    Literal(String),
}

/// Parses an expression.
///
/// # Errors
///
/// Any [`ExprError`] but [`ExprError::TooLong`]: the text does not follow
/// the grammar, nests too deeply, or holds a regex that does not compile.
pub fn parse(input: &str) -> Result<Expr, ExprError> {
    let tokens = Lexer::tokens(input)?;
    if tokens.is_empty() {
        return Err(ExprError::Empty);
    }
    let mut parser = Parser {
        tokens: tokens.into_iter().peekable(),
        depth: 0,
    };
    let expr = parser.chain()?;
    match parser.tokens.next() {
        None => Ok(expr),
        Some(token) => Err(ExprError::Unexpected(token.to_string())),
    }
}

impl Expr {
    /// Evaluates the expression, filling the scope's captures on each
    /// regex match.
    ///
    /// # Errors
    ///
    /// [`ExprError::TooLong`] if expanding an operand exceeds the value cap.
    pub fn evaluate(&self, scope: &mut dyn Scope) -> Result<bool, ExprError> {
        Ok(match self {
            Expr::Truthy(text) => !text.expand(scope)?.is_empty(),
            Expr::Compare { left, op, right } => {
                let left = left.expand(scope)?;
                let right = right.expand(scope)?;
                op.holds(&left, &right)
            }
            Expr::Match {
                left,
                regex,
                negate,
            } => {
                let subject = left.expand(scope)?;
                let matched = match regex.captures(&subject) {
                    Some(found) => {
                        let captures = (0..CAPTURES)
                            .map(|i| found.get(i).map(|m| m.as_str().to_owned()))
                            .collect();
                        scope.set_captures(captures);
                        true
                    }
                    // A failed match leaves the previous captures alone, so
                    // `$x = /(a)/ || $x = /(b)/` keeps whichever matched.
                    None => false,
                };
                matched != *negate
            }
            Expr::Not(inner) => !inner.evaluate(scope)?,
            Expr::Chain { first, rest } => {
                let mut value = first.evaluate(scope)?;
                for (op, operand) in rest {
                    // Every operand is evaluated, even when `value` already
                    // decides the result: see the module documentation.
                    let next = operand.evaluate(scope)?;
                    value = match op {
                        Logic::And => value && next,
                        Logic::Or => value || next,
                    };
                }
                value
            }
        })
    }
}

impl CmpOp {
    /// Whether `left op right` holds, comparing bytes as `strcmp` does.
    fn holds(self, left: &str, right: &str) -> bool {
        let (left, right) = (left.as_bytes(), right.as_bytes());
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

impl Text {
    /// The string this operand stands for, variables expanded.
    fn expand(&self, scope: &dyn Scope) -> Result<String, ValueTooLong> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Raw(raw) => out.push_str(&expand(raw, |name| scope.get(name))?),
                Piece::Literal(text) => out.push_str(text),
            }
            if out.len() > super::parse::MAX_VALUE_BYTES {
                return Err(ValueTooLong);
            }
        }
        Ok(out)
    }

    fn push_raw(&mut self, c: char) {
        match self.0.last_mut() {
            Some(Piece::Raw(s)) => s.push(c),
            _ => self.0.push(Piece::Raw(c.to_string())),
        }
    }

    fn push_literal(&mut self, c: char) {
        match self.0.last_mut() {
            Some(Piece::Literal(s)) => s.push(c),
            _ => self.0.push(Piece::Literal(c.to_string())),
        }
    }

    /// Appends the next adjacent word, with the single space that joins
    /// words in this language however many separated them.
    fn join(&mut self, next: Text) {
        self.push_literal(' ');
        self.0.extend(next.0);
    }
}

/// One token of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Not,
    And,
    Or,
    Cmp(CmpOp),
    Word(Text),
    Regex(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::Not => f.write_str("`!`"),
            Token::And => f.write_str("`&&`"),
            Token::Or => f.write_str("`||`"),
            Token::Cmp(op) => write!(f, "`{op}`"),
            Token::Word(_) => f.write_str("string"),
            Token::Regex(pattern) => write!(f, "regex `/{pattern}/`"),
        }
    }
}

// ANCHOR: expr_grammar
// The grammar, loosest binding first. `&&` and `||` share one rule, which
// is what gives them equal precedence; `!` takes a whole comparison, so
// `!a = b` is `!(a = b)`.
//
//     chain      = unary (("&&" | "||") unary)*
//     unary      = "!" unary | "(" chain ")" | comparison
//     comparison = text [op (text | regex)]
//     text       = word word*          -- adjacent words, joined by a space

/// Turns tokens into an [`Expr`], one method per grammar rule.
struct Parser {
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
    /// Current nesting of `(` and `!`, checked against [`MAX_DEPTH`].
    depth: usize,
}

impl Parser {
    fn chain(&mut self) -> Result<Expr, ExprError> {
        let first = self.unary()?;
        let mut rest = Vec::new();
        while let Some(op) = self.logic() {
            rest.push((op, self.unary()?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Expr::Chain {
                first: Box::new(first),
                rest,
            }
        })
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.tokens.next_if_eq(&Token::Not).is_some() {
            let operand = self.nested(Self::unary)?;
            return Ok(Expr::Not(Box::new(operand)));
        }
        if self.tokens.next_if_eq(&Token::Open).is_some() {
            let inner = self.nested(Self::chain)?;
            return match self.tokens.next() {
                Some(Token::Close) => Ok(inner),
                Some(other) => Err(ExprError::Unexpected(other.to_string())),
                None => Err(ExprError::UnexpectedEnd("`)`")),
            };
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let left = self.text()?;
        let Some(op) = self.comparison_operator() else {
            return Ok(Expr::Truthy(left));
        };
        if let Some(Token::Regex(pattern)) = self.tokens.next_if(|t| matches!(t, Token::Regex(_))) {
            let negate = match op {
                CmpOp::Eq => false,
                CmpOp::Ne => true,
                other => return Err(ExprError::RegexOperator(other)),
            };
            let regex = compile(&pattern)?;
            return Ok(Expr::Match {
                left,
                regex,
                negate,
            });
        }
        let right = self.text()?;
        Ok(Expr::Compare { left, op, right })
    }

    fn text(&mut self) -> Result<Text, ExprError> {
        let mut text = match self.tokens.next() {
            Some(Token::Word(word)) => word,
            Some(other) => return Err(ExprError::Unexpected(other.to_string())),
            None => return Err(ExprError::UnexpectedEnd("a string")),
        };
        while let Some(Token::Word(next)) = self.tokens.next_if(|t| matches!(t, Token::Word(_))) {
            text.join(next);
        }
        Ok(text)
    }

    /// Runs one grammar rule a level deeper, refusing to go past the cap.
    fn nested(
        &mut self,
        rule: fn(&mut Self) -> Result<Expr, ExprError>,
    ) -> Result<Expr, ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(ExprError::TooDeep);
        }
        self.depth += 1;
        let result = rule(self);
        self.depth -= 1;
        result
    }

    fn logic(&mut self) -> Option<Logic> {
        let op = match self.tokens.peek()? {
            Token::And => Logic::And,
            Token::Or => Logic::Or,
            _ => return None,
        };
        self.tokens.next();
        Some(op)
    }

    fn comparison_operator(&mut self) -> Option<CmpOp> {
        let Token::Cmp(op) = *self.tokens.peek()? else {
            return None;
        };
        self.tokens.next();
        Some(op)
    }
}
// ANCHOR_END: expr_grammar

/// Compiles a regex under the size limits.
fn compile(pattern: &str) -> Result<Regex, ExprError> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .nest_limit(MAX_REGEX_NESTING)
        .build()
        // The crate's messages span several lines; the error log wants one.
        .map_err(|e| {
            ExprError::Regex(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
}

/// Cuts an expression into tokens.
///
/// Whitespace separates tokens and is otherwise dropped. A word runs until
/// whitespace or an operator (a single `&` or `|` is part of a word, as in
/// Apache). A backslash makes the next character ordinary — not an
/// operator, not a closing quote, not the start of a variable — except in
/// a regex, where only `\/` is taken out and every other escape is left
/// for the regex engine.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn tokens(input: &str) -> Result<Vec<Token>, ExprError> {
        let mut lexer = Lexer {
            chars: input.chars().collect(),
            pos: 0,
        };
        let mut tokens = Vec::new();
        while let Some(c) = lexer.peek(0) {
            if c.is_whitespace() {
                lexer.pos += 1;
            } else if let Some((token, len)) = lexer.operator() {
                lexer.pos += len;
                tokens.push(token);
            } else if c == '\'' {
                lexer.pos += 1;
                tokens.push(Token::Word(lexer.quoted()?));
            } else if c == '/' {
                lexer.pos += 1;
                tokens.push(Token::Regex(lexer.regex()?));
            } else {
                tokens.push(Token::Word(lexer.word()));
            }
        }
        Ok(tokens)
    }

    /// The operator starting here, and its length in characters.
    fn operator(&self) -> Option<(Token, usize)> {
        Some(match (self.peek(0)?, self.peek(1)) {
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            ('=', Some('=')) => (Token::Cmp(CmpOp::Eq), 2),
            ('=', _) => (Token::Cmp(CmpOp::Eq), 1),
            ('!', Some('=')) => (Token::Cmp(CmpOp::Ne), 2),
            ('!', _) => (Token::Not, 1),
            ('<', Some('=')) => (Token::Cmp(CmpOp::Le), 2),
            ('<', _) => (Token::Cmp(CmpOp::Lt), 1),
            ('>', Some('=')) => (Token::Cmp(CmpOp::Ge), 2),
            ('>', _) => (Token::Cmp(CmpOp::Gt), 1),
            ('&', Some('&')) => (Token::And, 2),
            ('|', Some('|')) => (Token::Or, 2),
            _ => return None,
        })
    }

    fn word(&mut self) -> Text {
        let mut text = Text::default();
        while let Some(c) = self.peek(0) {
            if c.is_whitespace() || self.operator().is_some() {
                break;
            }
            self.pos += 1;
            if c == '\\' {
                // A trailing backslash has nothing to escape: keep it.
                let escaped = self.next().unwrap_or('\\');
                text.push_literal(escaped);
            } else {
                text.push_raw(c);
            }
        }
        text
    }

    /// A `'quoted string'`, the opening quote already read. Spacing inside
    /// is kept exactly.
    fn quoted(&mut self) -> Result<Text, ExprError> {
        let mut text = Text::default();
        loop {
            match self.next() {
                None => return Err(ExprError::Unterminated("quoted string")),
                Some('\'') => return Ok(text),
                Some('\\') => match self.next() {
                    Some(escaped) => text.push_literal(escaped),
                    None => return Err(ExprError::Unterminated("quoted string")),
                },
                Some(c) => text.push_raw(c),
            }
        }
    }

    /// A `/regex/`, the opening slash already read.
    fn regex(&mut self) -> Result<String, ExprError> {
        let mut pattern = String::new();
        loop {
            match self.next() {
                None => return Err(ExprError::Unterminated("regex")),
                Some('/') => return Ok(pattern),
                Some('\\') => match self.next() {
                    Some('/') => pattern.push('/'),
                    Some(escaped) => {
                        pattern.push('\\');
                        pattern.push(escaped);
                    }
                    None => return Err(ExprError::Unterminated("regex")),
                },
                Some(c) => pattern.push(c),
            }
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Variables in a map, captures alongside.
    #[derive(Default)]
    struct Vars {
        vars: BTreeMap<String, String>,
        captures: Vec<Option<String>>,
    }

    impl Vars {
        fn with(pairs: &[(&str, &str)]) -> Self {
            Vars {
                vars: pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
                captures: Vec::new(),
            }
        }
    }

    impl Scope for Vars {
        fn get(&self, name: &str) -> Option<String> {
            match name.parse::<usize>() {
                Ok(i) if name.len() == 1 => self.captures.get(i).cloned().flatten(),
                _ => self.vars.get(name).cloned(),
            }
        }

        fn set_captures(&mut self, captures: Vec<Option<String>>) {
            self.captures = captures;
        }
    }

    fn eval_in(vars: &mut Vars, input: &str) -> bool {
        parse(input).unwrap().evaluate(vars).unwrap()
    }

    fn eval(input: &str) -> bool {
        eval_in(
            &mut Vars::with(&[("x", "abc"), ("empty", ""), ("n", "100")]),
            input,
        )
    }

    #[test]
    fn bare_strings() {
        assert!(eval("abc"));
        assert!(eval("$x"));
        assert!(!eval("$empty"));
        assert!(!eval("$unset"));
        assert!(!eval("''"));
        assert!(eval("' '"));
        assert!(eval("0"), "any non-empty string is true, even 0");
    }

    #[test]
    fn equality() {
        assert!(eval("$x = abc"));
        assert!(eval("$x == abc"));
        assert!(eval("${x}d = abcd"));
        assert!(!eval("$x = abd"));
        assert!(eval("$x != abd"));
        assert!(!eval("$x != abc"));
        assert!(eval("$empty = ''"));
        assert!(eval("$unset = $empty"));
    }

    #[test]
    fn ordering_is_strcmp() {
        assert!(eval("100 < 20"), "verified: byte order, not numeric");
        assert!(eval("$n < 20"));
        assert!(eval("abc <= abc"));
        assert!(eval("b > abc"));
        assert!(eval("b >= b"));
        assert!(!eval("a > b"));
        assert!(eval("ab > a"), "a prefix sorts first");
    }

    #[test]
    fn adjacent_words_join_with_one_space() {
        assert!(eval("$x   def = 'abc def'"));
        assert!(eval("a b c = 'a b c'"));
        assert!(!eval("'a  b' = 'a b'"), "quoted spacing is kept");
        assert!(eval("'a  b' = 'a  b'"));
        assert!(eval("'a' 'b' = 'a b'"));
    }

    #[test]
    fn escapes() {
        assert!(eval(r"\$x != $x"), r"\$ is a literal dollar");
        assert!(eval(r"'\$x' = \$x"));
        assert!(eval(r"'it\'s' = it\'s"));
        assert!(eval(r"a\=b = 'a=b'"), "an escaped operator is text");
        assert!(
            eval(r"\\$x = '\\abc'"),
            "an escaped backslash still expands what follows"
        );
        assert!(eval(r"a& = 'a&'"), "a single & is text");
        assert!(eval(r"a|b = 'a|b'"));
    }

    #[test]
    fn not_binds_tightest() {
        assert!(eval("!''"));
        assert!(!eval("!abc"));
        assert!(eval("!!abc"));
        // `!` applies to the comparison: !(a = b).
        assert!(eval("! a = b"));
        // (!'') && '' is false; !('' && '') would be true.
        assert!(!eval("!'' && ''"));
    }

    #[test]
    fn and_or_have_equal_precedence_left_to_right() {
        // Verified example.
        assert!(eval("(foo = bar) || !(1 = 2) && abc"));
        // (a || b) && '' is false; with && binding tighter it would be true.
        assert!(!eval("a || b && ''"));
        // ('' && a) || b is true; with && binding tighter also true, but
        // ('' || a) && '' is false either way: check a longer chain.
        assert!(eval("'' && a || b"));
        assert!(!eval("a || '' && ''"));
        assert!(eval("a || (b && '')"));
    }

    #[test]
    fn parentheses() {
        assert!(eval("(abc)"));
        assert!(eval("((($x = abc)))"));
        assert!(!eval("!($x = abc)"));
        assert!(eval("($x=abc)&&($n=100)"));
    }

    #[test]
    fn regex_match_and_captures() {
        let mut vars = Vars::with(&[("q", "id=42&x=7")]);
        assert!(eval_in(&mut vars, "$q = /id=([0-9]+)&(x)=(\\d)/"));
        assert_eq!(vars.get("0").as_deref(), Some("id=42&x=7"));
        assert_eq!(vars.get("1").as_deref(), Some("42"));
        assert_eq!(vars.get("2").as_deref(), Some("x"));
        assert_eq!(vars.get("3").as_deref(), Some("7"));
        assert_eq!(vars.get("4"), None);
        assert_eq!(vars.get("9"), None);
        // `$1` later in the same expression sees the new captures.
        assert!(eval_in(&mut vars, "$q = /id=([0-9]+)/ && $1 = 42"));
    }

    #[test]
    fn regex_negation_and_anchors() {
        assert!(eval("$x != /^b/"));
        assert!(!eval("$x != /^a/"));
        assert!(
            eval("$x = /^abc$/"),
            "$ in a regex is an anchor, not a variable"
        );
        assert!(eval("'a/b' = /a\\/b/"), r"\/ is a slash inside a regex");
    }

    #[test]
    fn failed_match_keeps_earlier_captures() {
        let mut vars = Vars::with(&[("x", "abc")]);
        assert!(eval_in(&mut vars, "$x = /(b)/ || $x = /(z)/"));
        assert_eq!(vars.get("1").as_deref(), Some("b"));
    }

    #[test]
    fn regexes_run_even_when_the_result_is_decided() {
        let mut vars = Vars::with(&[("x", "abc")]);
        assert!(eval_in(&mut vars, "a || $x = /(c)/"));
        assert_eq!(vars.get("1").as_deref(), Some("c"));
        assert!(!eval_in(&mut vars, "'' && $x = /(a)/"));
        assert_eq!(vars.get("1").as_deref(), Some("a"));
    }

    fn error(input: &str) -> ExprError {
        parse(input).unwrap_err()
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(error(""), ExprError::Empty);
        assert_eq!(error("   "), ExprError::Empty);
        assert_eq!(error("'abc"), ExprError::Unterminated("quoted string"));
        assert_eq!(error("a = /abc"), ExprError::Unterminated("regex"));
        assert_eq!(error("(a"), ExprError::UnexpectedEnd("`)`"));
        assert_eq!(error("a)"), ExprError::Unexpected("`)`".into()));
        assert_eq!(error("a ="), ExprError::UnexpectedEnd("a string"));
        assert_eq!(error("= a"), ExprError::Unexpected("`=`".into()));
        assert_eq!(error("a &&"), ExprError::UnexpectedEnd("a string"));
        assert_eq!(error("&& a"), ExprError::Unexpected("`&&`".into()));
        assert_eq!(error("a = b = c"), ExprError::Unexpected("`=`".into()));
        assert_eq!(error("(a) = b"), ExprError::Unexpected("`=`".into()));
        assert_eq!(error("/re/"), ExprError::Unexpected("regex `/re/`".into()));
        assert_eq!(error("a < /re/"), ExprError::RegexOperator(CmpOp::Lt));
        assert!(matches!(error("a = /(/"), ExprError::Regex(_)));
    }

    #[test]
    fn regex_errors_are_one_line() {
        let ExprError::Regex(message) = error("a = /[z-a]/") else {
            panic!("expected a regex error");
        };
        assert!(!message.contains('\n'));
    }

    #[test]
    fn hostile_nesting_is_refused_not_a_crash() {
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(error(&deep), ExprError::TooDeep);
        assert_eq!(error(&"!".repeat(100_000)), ExprError::TooDeep);
        let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(eval(&ok));
        let too_deep = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(error(&too_deep), ExprError::TooDeep);
    }

    #[test]
    fn long_chains_are_flat() {
        let chain = vec!["a"; 50_000].join(" && ");
        assert!(eval(&chain));
        let chain = format!("{} || ''", vec!["''"; 50_000].join(" || "));
        assert!(!eval(&chain));
    }

    #[test]
    fn hostile_regexes_are_refused() {
        assert!(matches!(
            error("a = /(a{1000}){1000}/"),
            ExprError::Regex(_)
        ));
        let nested = format!("a = /{}a{}/", "(".repeat(1000), ")".repeat(1000));
        assert!(matches!(error(&nested), ExprError::Regex(_)));
        assert!(
            matches!(error("a = /(a)\\1/"), ExprError::Regex(_)),
            "no backreferences"
        );
    }

    #[test]
    fn expansion_is_capped() {
        let big = "x".repeat(super::super::parse::MAX_VALUE_BYTES);
        let mut vars = Vars::with(&[("big", &big)]);
        let expr = parse("$big $big").unwrap();
        assert_eq!(
            expr.evaluate(&mut vars),
            Err(ExprError::TooLong(ValueTooLong))
        );
    }

    #[test]
    fn non_ascii_words() {
        assert!(eval("été = 'été'"));
        assert!(eval("z < é"), "bytes: 0xC3 sorts after z");
    }
}
