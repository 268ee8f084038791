//! Build script: with the `python` feature, record which Python we built
//! against and make the binary find that Python's libpython on its own.
//!
//! Without this, the binary carries no path to libpython and the dynamic
//! loader picks whatever `libpython3.X.so` it finds first (often the
//! system's, with another standard library and none of the virtualenv's
//! packages), or none at all. pyo3-build-config writes an rpath pointing at
//! the build interpreter's library directory, and we pass that interpreter's
//! path to the code, which uses it to find the standard library at start
//! (see `src/python/interpreter.rs`). No `LD_LIBRARY_PATH` needed.

fn main() {
    #[cfg(feature = "python")]
    {
        pyo3_build_config::add_libpython_rpath_link_args();
        let executable = pyo3_build_config::get().executable().unwrap_or("python3");
        println!("cargo:rustc-env=STEP02_BUILD_PYTHON={executable}");
        // Rebuild when the chosen interpreter may change.
        for var in ["PYO3_PYTHON", "VIRTUAL_ENV"] {
            println!("cargo:rerun-if-env-changed={var}");
        }
    }
}
