//! The Python side of the gateway: the objects PEP 3333 hands an application.
//!
//! - the environ `dict`, every value a `str` decoded as latin-1 (PEP 3333's
//!   "native strings": each byte becomes the code point of the same value,
//!   so no byte is lost and the application can re-encode);
//! - `wsgi.input` ([`Input`]): `read`, `readline`, `readlines` and
//!   iteration over the request body, which the server has already read
//!   in full and bounded;
//! - `wsgi.errors` ([`Errors`]): `write`, `writelines`, `flush`, each line
//!   going to the server's log;
//! - `start_response(status, headers, exc_info=None)` ([`StartResponseFn`]),
//!   which sets the head on the same Rust [`StartResponse`] the server
//!   reads, and returns a `write(data)` callable ([`Write`]) for legacy
//!   applications that push their body instead of returning it.

use crossbeam_channel::Sender;
use pyo3::exceptions::{PyAssertionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::worker::Message;
use crate::gateway::{ErrorStream, StartResponse};

/// An environ value as a PEP 3333 native string: latin-1, byte for byte.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

// ANCHOR: environ_dict
/// Builds the environ dict for one request.
///
/// # Errors
///
/// Only if Python cannot allocate the objects.
pub fn environ_dict<'py>(
    py: Python<'py>,
    environ: crate::gateway::Environ,
    multithread: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in environ.vars.iter() {
        dict.set_item(name, latin1(value))?;
    }
    dict.set_item("wsgi.version", (1, 0))?;
    dict.set_item("wsgi.url_scheme", environ.url_scheme)?;
    dict.set_item("wsgi.input", Input::new(environ.input.into_inner()))?;
    // Not set: "wsgi.input_terminated", an extension some servers offer.
    // With it, frameworks (Werkzeug) call read() with no size, which PEP
    // 3333 tells applications not to rely on and wsgiref.validate refuses;
    // CONTENT_LENGTH is the contract.
    dict.set_item("wsgi.errors", Errors::new(environ.errors))?;
    dict.set_item("wsgi.multithread", multithread)?;
    dict.set_item("wsgi.multiprocess", environ.multiprocess)?;
    dict.set_item("wsgi.run_once", environ.run_once)?;
    Ok(dict)
}
// ANCHOR_END: environ_dict

/// `wsgi.input`: the request body as a file-like object.
#[pyclass(module = "stepwise")]
pub struct Input {
    data: Vec<u8>,
    position: usize,
}

impl Input {
    fn new(data: Vec<u8>) -> Self {
        Input { data, position: 0 }
    }

    /// The unread rest, at most `limit` bytes (all of it for `None` or a
    /// negative size, as Python's file objects do).
    fn take(&mut self, limit: Option<isize>) -> &[u8] {
        let rest = self.data.len() - self.position;
        let n = match limit {
            Some(n) if n >= 0 => (n as usize).min(rest),
            _ => rest,
        };
        let start = self.position;
        self.position += n;
        &self.data[start..start + n]
    }

    fn line(&mut self, limit: Option<isize>) -> &[u8] {
        let rest = &self.data[self.position..];
        let through_newline = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let n = match limit {
            Some(n) if n >= 0 => through_newline.min(n as usize),
            _ => through_newline,
        };
        self.take(Some(n as isize))
    }
}

#[pymethods]
impl Input {
    /// `read(size=-1)`: up to `size` bytes; `b""` at the end.
    #[pyo3(signature = (size = None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.take(size))
    }

    /// `readline(size=-1)`: through the next `\n`, or `size` bytes.
    #[pyo3(signature = (size = None))]
    fn readline<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.line(size))
    }

    /// `readlines(hint=-1)`: the remaining lines, stopping once `hint`
    /// bytes have been read.
    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let mut total = 0usize;
        loop {
            let line = self.line(None);
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, line))?;
            if hint.is_some_and(|h| h > 0 && total >= h as usize) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        let line = self.line(None);
        (!line.is_empty()).then(|| PyBytes::new(py, line))
    }
}

/// `wsgi.errors`: text written here goes to the server's log, a line at a
/// time.
#[pyclass(module = "stepwise")]
pub struct Errors {
    stream: ErrorStream,
}

impl Errors {
    fn new(stream: ErrorStream) -> Self {
        Errors { stream }
    }
}

#[pymethods]
impl Errors {
    /// Returns the number of characters written, as `io.TextIOBase` does.
    fn write(&mut self, text: &str) -> usize {
        use std::io::Write as _;
        let _ = self.stream.write_all(text.as_bytes());
        text.chars().count()
    }

    fn writelines(&mut self, lines: Vec<String>) {
        for line in lines {
            self.write(&line);
        }
    }

    fn flush(&mut self) {
        use std::io::Write as _;
        let _ = self.stream.flush();
    }
}

// ANCHOR: start_response
/// `start_response(status, response_headers, exc_info=None)`.
#[pyclass(module = "stepwise")]
pub struct StartResponseFn {
    /// The Rust handle the server reads the head from.
    pub start: StartResponse,
    /// Where `write()` sends its bytes: the same queue as the body's chunks.
    pub chunks: Sender<Message>,
}

#[pymethods]
impl StartResponseFn {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        &self,
        status: &Bound<'_, PyString>,
        headers: &Bound<'_, PyList>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Write> {
        let (code, reason) = parse_status(status.to_str()?)?;
        let headers = parse_headers(headers)?;
        let error = exc_info.filter(|e| !e.is_none());
        let result = match error {
            // After an error: replace the head if it has not gone out yet,
            // otherwise re-raise the application's exception (PEP 3333).
            Some(exc_info) => {
                if self.start.is_sent() {
                    let exc_info = exc_info.cast::<PyTuple>()?;
                    return Err(PyErr::from_value(exc_info.get_item(1)?));
                }
                self.start
                    .restart_after_error(code, headers)
                    .and_then(|()| {
                        // Keep the application's own reason phrase.
                        self.start.set_reason(reason.into())
                    })
            }
            None => self.start.start_with_reason(code, reason.into(), headers),
        };
        result.map_err(|e| PyAssertionError::new_err(e.to_string()))?;
        Ok(Write {
            chunks: self.chunks.clone(),
        })
    }
}
// ANCHOR_END: start_response

/// The `write(data)` callable that `start_response` returns.
#[pyclass(module = "stepwise")]
pub struct Write {
    chunks: Sender<Message>,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        let chunk = data.as_bytes().to_vec();
        // Waiting for room in the queue must not hold the GIL.
        let sent = py.detach(|| {
            self.chunks.send(Message::Chunk {
                bytes: chunk,
                last: false,
            })
        });
        sent.map_err(|_| pyo3::exceptions::PyConnectionError::new_err("the client went away"))
    }
}

/// `"200 OK"` → (200, "OK"). PEP 3333: a three-digit code, a single
/// space, a reason phrase.
fn parse_status(status: &str) -> PyResult<(http::StatusCode, String)> {
    let invalid = || {
        PyValueError::new_err(format!(
            "invalid status {status:?}: expected like \"200 OK\""
        ))
    };
    let (code, reason) = status.split_once(' ').ok_or_else(invalid)?;
    if reason.is_empty() || !reason.is_ascii() {
        return Err(invalid());
    }
    let code = (code.len() == 3)
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .and_then(|c| http::StatusCode::from_u16(c).ok())
        .ok_or_else(invalid)?;
    Ok((code, reason.to_owned()))
}

/// A list of `(name, value)` tuples of `str` (PEP 3333 requires exactly a
/// list of tuples).
fn parse_headers(headers: &Bound<'_, PyList>) -> PyResult<Vec<(String, String)>> {
    headers
        .iter()
        .map(|item| {
            let pair = item
                .cast::<PyTuple>()
                .map_err(|_| PyTypeError::new_err("each header must be a (name, value) tuple"))?;
            if pair.len() != 2 {
                return Err(PyTypeError::new_err(
                    "each header must be a (name, value) tuple",
                ));
            }
            let name: String = pair.get_item(0)?.extract()?;
            let value: String = pair.get_item(1)?.extract()?;
            // PEP 3333 allows latin-1 in values; RFC 9110 deprecates
            // anything outside ASCII (obs-text), and this server writes its
            // head as text. Refuse rather than send mis-encoded bytes.
            if !name.is_ascii() || !value.is_ascii() {
                return Err(PyValueError::new_err(format!(
                    "header {name:?}: only ASCII names and values are sent (RFC 9110 §5.5)"
                )));
            }
            Ok((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_keeps_every_byte() {
        assert_eq!(latin1(b"/a\xffb"), "/a\u{ff}b");
        assert_eq!(latin1("ö".as_bytes()), "\u{c3}\u{b6}");
    }

    #[test]
    fn input_reads_lines_and_sizes() {
        let mut input = Input::new(b"one\ntwo\nthree".to_vec());
        assert_eq!(input.line(None), b"one\n");
        assert_eq!(input.line(Some(2)), b"tw");
        assert_eq!(input.take(Some(100)), b"o\nthree");
        assert_eq!(input.take(None), b"");
    }

    #[test]
    fn statuses() {
        assert_eq!(parse_status("404 Not Found").unwrap().0, 404);
        assert_eq!(parse_status("200 Fine Thanks").unwrap().1, "Fine Thanks");
        assert!(parse_status("20 OK").is_err());
        assert!(parse_status("abc").is_err());
        assert!(parse_status("200").is_err(), "a reason phrase is required");
        assert!(parse_status("200 ").is_err());
    }
}
