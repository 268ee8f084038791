//! Forking with an application loaded: what must happen around `fork()`.
//!
//! Chapters 3 and 4 fork a child per connection after the application is
//! loaded. Rust applications need nothing special. An embedded CPython
//! does: like any runtime with internal locks, it must be told a fork is
//! coming (`PyOS_BeforeFork`: take its locks, so none is held mid-update by
//! a thread that will not exist in the child) and that it happened
//! (`PyOS_AfterFork_Child`: reset those locks and the thread list in the
//! child; `PyOS_AfterFork_Parent`: release them in the parent), with the
//! forking thread attached to the interpreter throughout. That is exactly
//! what `os.fork()` does inside Python. Pre-fork Python servers (gunicorn,
//! uWSGI) load the application once in the parent for the same reason: the
//! import cost is paid once, and children share the loaded pages.
//!
//! [`prepare`] returns a guard to call once `fork` has returned, on each
//! side. Without the `python` feature, or with no interpreter running, it
//! does nothing.

/// Python's fork protocol, started by [`prepare`] and finished on each
/// side of the fork.
#[derive(Debug)]
#[must_use = "call .child() or .parent() once fork has returned"]
pub struct ForkGuard {
    #[cfg(feature = "python")]
    gil: Option<pyo3::ffi::PyGILState_STATE>,
}

/// Call right before `fork()`.
#[allow(unsafe_code)]
pub fn prepare() -> ForkGuard {
    #[cfg(feature = "python")]
    {
        use pyo3::ffi;
        // SAFETY: Py_IsInitialized may be called at any time. When it is
        // initialised, PyGILState_Ensure attaches this thread (the one that
        // initialised Python, with its own thread state) and takes the GIL;
        // PyOS_BeforeFork must then be called with the GIL held, which it is.
        unsafe {
            if ffi::Py_IsInitialized() == 0 {
                return ForkGuard { gil: None };
            }
            let gil = ffi::PyGILState_Ensure();
            ffi::PyOS_BeforeFork();
            ForkGuard { gil: Some(gil) }
        }
    }
    #[cfg(not(feature = "python"))]
    ForkGuard {}
}

impl ForkGuard {
    /// In the child, right after `fork()` returned.
    #[allow(unsafe_code)]
    pub fn child(self) {
        #[cfg(feature = "python")]
        if let Some(gil) = self.gil {
            // SAFETY: same thread as `prepare`, still holding the GIL (the
            // child's only thread). PyOS_AfterFork_Child resets the
            // interpreter's locks and forgets the parent's other threads;
            // then the GIL taken in `prepare` is released.
            unsafe {
                pyo3::ffi::PyOS_AfterFork_Child();
                pyo3::ffi::PyGILState_Release(gil);
            }
        }
    }

    /// In the parent, right after `fork()` returned (or failed).
    #[allow(unsafe_code)]
    pub fn parent(self) {
        #[cfg(feature = "python")]
        if let Some(gil) = self.gil {
            // SAFETY: same thread as `prepare`, holding the GIL; this undoes
            // PyOS_BeforeFork and releases the GIL taken there.
            unsafe {
                pyo3::ffi::PyOS_AfterFork_Parent();
                pyo3::ffi::PyGILState_Release(gil);
            }
        }
    }
}
