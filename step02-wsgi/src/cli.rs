//! The command line for choosing an application, shared by chapters 2–4.
//!
//! Each binary flattens [`AppArgs`] into its flags: `--app NAME` picks one
//! of the Rust applications, `--wsgi MODULE:CALLABLE` a Python one (with
//! the `python` feature), so the same application can be served
//! iteratively, forked and reaped without changing a line of it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use clap::Args;

use crate::apps;
use crate::gateway::Application;

/// Flags that choose the application.
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// The Rust application to serve.
    #[arg(long, default_value = "framework", value_parser = apps::NAMES)]
    pub app: String,
    /// Serve a Python WSGI application instead, as MODULE:CALLABLE (e.g.
    /// flaskapp:app). Needs the `python` feature.
    #[arg(long, value_name = "MODULE:CALLABLE")]
    pub wsgi: Option<String>,
    /// A directory to import the Python application from (repeatable);
    /// the current directory and step02-wsgi's python/ examples follow.
    #[arg(long, value_name = "DIR")]
    pub pythonpath: Vec<PathBuf>,
    /// Check every request and response against PEP 3333 with
    /// wsgiref.validate (Python applications only).
    #[arg(long)]
    pub validate: bool,
}

impl AppArgs {
    /// Loads the chosen application. A Python application is imported now,
    /// in this process — before any fork, so children inherit it loaded.
    ///
    /// # Errors
    ///
    /// An unknown name; a Python application that cannot be imported (with
    /// its traceback); `--wsgi` without the `python` feature.
    pub fn load(&self) -> anyhow::Result<Arc<dyn Application>> {
        match &self.wsgi {
            Some(spec) => self.load_python(spec),
            None => {
                apps::by_name(&self.app).ok_or_else(|| anyhow!("unknown application {}", self.app))
            }
        }
    }

    /// The page to suggest in the `Try: curl …` line: the demo framework's
    /// slow page (the one the forking chapters are about), else `/`.
    pub fn try_path(&self) -> &'static str {
        if self.wsgi.is_none() && self.app == "framework" {
            "/sleep?ms=5000"
        } else {
            "/"
        }
    }

    #[cfg(feature = "python")]
    fn load_python(&self, spec: &str) -> anyhow::Result<Arc<dyn Application>> {
        use crate::python::{PythonOptions, load};
        let options = PythonOptions {
            pythonpath: self.pythonpath.clone(),
            threads: 1,
            validate: self.validate,
        };
        let app = load(spec, &options).map_err(|e| anyhow!("cannot load {spec}:\n{e}"))?;
        Ok(Arc::new(app))
    }

    #[cfg(not(feature = "python"))]
    fn load_python(&self, spec: &str) -> anyhow::Result<Arc<dyn Application>> {
        Err(anyhow!(
            "--wsgi {spec} needs Python support: build with `--features python` \
             (see the README for the one-time Python setup)"
        ))
    }
}
