//! Starting the embedded CPython: the right interpreter, no signal handlers.
//!
//! Two traps wait for a program that embeds Python (both seen in practice):
//!
//! 1. **The wrong libpython.** Solved at build time: `build.rs` gives the
//!    binary an rpath to the build interpreter's library directory.
//! 2. **The wrong standard library and site-packages.** The plain
//!    `Py_Initialize` computes `sys.prefix` from whatever `python3` is on
//!    `PATH` when the program *runs*, which may be another installation,
//!    and ignores a virtualenv that is not activated. So we initialise
//!    through a `PyConfig` whose `program_name` is the interpreter we mean:
//!    `$VIRTUAL_ENV/bin/python` when a virtualenv is active, otherwise the
//!    interpreter this binary was built against. Python derives
//!    `sys.prefix` from it exactly as if that interpreter had been started.
//!
//! We also set `install_signal_handlers = 0`: the server owns SIGINT and
//! SIGTERM (chapter 1's shutdown, chapter 4's SIGCHLD). Python's own SIGINT
//! handler would only record the signal, to raise `KeyboardInterrupt` in
//! the main thread the next time it runs Python code — a surprise waiting
//! in the server, and a handler fighting ours for the signal.
//!
//! The thread that initialises keeps its thread state for the life of the
//! process and releases the GIL at once, so other threads can attach.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::PythonError;

/// The interpreter this binary was built against (recorded by `build.rs`).
pub const BUILD_PYTHON: &str = env!("STEP02_BUILD_PYTHON");

/// Serialises initialisation: tests start several servers at once.
static INIT: Mutex<()> = Mutex::new(());

/// The interpreter whose prefix Python should use: an active virtualenv's,
/// or the build interpreter.
pub fn program_name() -> PathBuf {
    match std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        Some(venv) => Path::new(&venv).join("bin").join("python"),
        None => PathBuf::from(BUILD_PYTHON),
    }
}

// ANCHOR: initialize
/// Initialises CPython once per process; later calls do nothing.
///
/// # Errors
///
/// [`PythonError::Init`] if CPython refuses the configuration (for
/// example, a `program_name` whose prefix holds no standard library).
#[allow(unsafe_code)]
pub fn initialize() -> Result<(), PythonError> {
    let _once = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        return Ok(());
    }
    let program = program_name();
    let program_c = CString::new(program.as_os_str().as_encoded_bytes())
        .map_err(|_| PythonError::Init("the interpreter path contains a NUL byte".into()))?;
    // SAFETY: the PyConfig calls below follow CPython's documented sequence
    // (Python Initialization Configuration, PEP 587): the struct is zeroed
    // and then filled by PyConfig_InitPythonConfig before any other use; the
    // string is copied by PyConfig_SetBytesString; the config is cleared
    // exactly once, after Py_InitializeFromConfig has read it. This thread
    // holds no GIL yet, and the INIT lock ensures no other thread runs this
    // sequence at the same time. PyEval_SaveThread is called by the thread
    // that initialised, which holds the GIL at that point.
    unsafe {
        let mut config: ffi::PyConfig = std::mem::zeroed();
        ffi::PyConfig_InitPythonConfig(&mut config);
        config.install_signal_handlers = 0;
        let status =
            ffi::PyConfig_SetBytesString(&mut config, &mut config.program_name, program_c.as_ptr());
        if ffi::PyStatus_Exception(status) != 0 {
            ffi::PyConfig_Clear(&mut config);
            return Err(PythonError::Init(format!(
                "cannot use {} as the program name",
                program.display()
            )));
        }
        let status = ffi::Py_InitializeFromConfig(&config);
        ffi::PyConfig_Clear(&mut config);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(PythonError::Init(format!(
                "CPython did not start with program name {}",
                program.display()
            )));
        }
        // Release the GIL: from now on every thread attaches when it needs
        // Python, this one included (it keeps its thread state).
        ffi::PyEval_SaveThread();
    }
    Ok(())
}
// ANCHOR_END: initialize

/// Puts `dirs` at the front of `sys.path`, in order, and `fallback` at its
/// end, skipping any already present.
///
/// # Errors
///
/// A Python error, rendered with its traceback.
pub fn extend_sys_path(
    py: Python<'_>,
    dirs: &[PathBuf],
    fallback: &Path,
) -> Result<(), PythonError> {
    let path = py
        .import("sys")
        .and_then(|sys| sys.getattr("path"))
        .and_then(|p| Ok(p.cast_into::<PyList>()?))
        .map_err(|e| PythonError::from_py(py, &e))?;
    let already = |p: &Path| -> bool {
        path.iter()
            .any(|item| item.extract::<String>().is_ok_and(|s| Path::new(&s) == p))
    };
    for (index, dir) in dirs.iter().enumerate() {
        if !already(dir) {
            path.insert(index, dir.to_string_lossy().as_ref())
                .map_err(|e| PythonError::from_py(py, &e))?;
        }
    }
    if !already(fallback) {
        path.append(fallback.to_string_lossy().as_ref())
            .map_err(|e| PythonError::from_py(py, &e))?;
    }
    Ok(())
}
