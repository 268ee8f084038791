//! Hosting real Python WSGI applications behind the gateway (feature `python`).
//!
//! `cargo run -p step02-wsgi --features python -- --wsgi flaskapp:app`
//! imports `flaskapp` and serves its `app` through the same gateway as the
//! Rust applications: to the server, [`PythonApp`] is one more
//! [`Application`]. What it does:
//!
//! 1. [`interpreter`] starts CPython embedded in this process — the right
//!    interpreter and virtualenv, without Python's signal handlers.
//! 2. [`load`] imports `module:callable` (from `--pythonpath` directories,
//!    the current directory, and this crate's `python/` examples), or fails
//!    at start with the Python traceback.
//! 3. For each request, [`PythonApp::call`] hands the environ to a
//!    long-lived Python thread ([`worker`]), which builds the PEP 3333
//!    objects ([`wsgi`]), calls the application, and streams its chunks
//!    back; the server frames and sends them as for any application.
//!
//! Forking servers (chapters 3–5) start their Python threads lazily in each
//! process: threads do not survive `fork`, so a child that finds a pool
//! started by another process starts its own.

pub mod interpreter;
pub mod worker;
pub mod wsgi;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;

use crate::gateway::{AppError, Application, Body, Environ, StartResponse};
use worker::Pool;

/// Why a Python application could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// The interpreter did not initialise.
    #[error("cannot start Python: {0}")]
    Init(String),
    /// `module:callable` is not of that form.
    #[error("expected MODULE:CALLABLE (like flaskapp:app), got {0:?}")]
    Spec(String),
    /// Importing or finding the callable raised; the text is the traceback.
    #[error("{0}")]
    Python(String),
}

impl PythonError {
    /// A Python exception, with its traceback.
    pub fn from_py(py: Python<'_>, error: &PyErr) -> Self {
        PythonError::Python(worker::traceback(py, error))
    }
}

/// How to load and run a Python application.
#[derive(Debug, Clone)]
pub struct PythonOptions {
    /// Directories put first on `sys.path` (`--pythonpath`).
    pub pythonpath: Vec<PathBuf>,
    /// How many Python threads serve requests (1 for a server that
    /// handles one request at a time).
    pub threads: usize,
    /// Wrap the application in `wsgiref.validate.validator`, which checks
    /// both sides — the server's too — against PEP 3333 on every request.
    pub validate: bool,
}

impl Default for PythonOptions {
    fn default() -> Self {
        PythonOptions {
            pythonpath: Vec::new(),
            threads: 1,
            validate: false,
        }
    }
}

/// The example applications shipped with this crate (`python/`), searched
/// last so `--wsgi flaskapp:app` works from any directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

// ANCHOR: python_app
/// A Python WSGI application, served through the gateway.
pub struct PythonApp {
    /// The application object (`flaskapp.app`).
    app: Arc<Py<PyAny>>,
    /// The worker threads of the current process, started on first use.
    pool: Mutex<Option<Pool>>,
    threads: usize,
}

impl Application for PythonApp {
    fn call(&self, mut environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
        // Truthful wsgi.multithread: concurrent calls need both a server
        // that makes them and more than one Python thread to take them.
        let multithread = environ.multithread && self.threads > 1;
        environ.multithread = multithread;
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if pool.as_ref().is_none_or(|p| p.pid != pid) {
            *pool = Some(Pool::start(Arc::clone(&self.app), self.threads)?);
        }
        let body = pool
            .as_ref()
            .ok_or("the Python worker pool is missing")?
            .submit(environ, start_response, multithread)?;
        Ok(Box::new(body))
    }
}
// ANCHOR_END: python_app

// ANCHOR: load
/// Starts Python (once) and imports `spec`, `module:callable`.
///
/// # Errors
///
/// [`PythonError`] with the Python traceback when the module or attribute
/// cannot be imported, or is not callable.
pub fn load(spec: &str, options: &PythonOptions) -> Result<PythonApp, PythonError> {
    let (module, attribute) = spec
        .split_once(':')
        .filter(|(m, a)| !m.is_empty() && !a.is_empty())
        .ok_or_else(|| PythonError::Spec(spec.to_owned()))?;
    interpreter::initialize()?;
    let mut dirs = options.pythonpath.clone();
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd);
    }
    let app = Python::attach(|py| -> Result<Py<PyAny>, PythonError> {
        interpreter::extend_sys_path(py, &dirs, &examples_dir())?;
        let fail = |e: PyErr| PythonError::from_py(py, &e);
        let mut object = py.import(module).map_err(fail)?.into_any();
        // `module:obj.attr` reaches into nested attributes.
        for part in attribute.split('.') {
            object = object.getattr(part).map_err(fail)?;
        }
        if !object.is_callable() {
            return Err(PythonError::Python(format!("{spec} is not callable")));
        }
        if options.validate {
            object = py
                .import("wsgiref.validate")
                .and_then(|v| v.getattr("validator"))
                .and_then(|validator| validator.call1((object,)))
                .map_err(fail)?;
        }
        Ok(object.unbind())
    })?;
    Ok(PythonApp {
        app: Arc::new(app),
        pool: Mutex::new(None),
        threads: options.threads.max(1),
    })
}
// ANCHOR_END: load
