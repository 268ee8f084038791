//! The site: mounted applications first, static files for everything else.
//!
//! One of the servers this project grew from let the programmer attach
//! handlers to paths and served files for the rest. [`Site`] does the same
//! with chapter 2's gateway: an application mounted at `/app` receives
//! every request under `/app/…`, with `SCRIPT_NAME=/app` and the rest of
//! the path in `PATH_INFO`; anything no mount claims is a file under the
//! document root.

use std::net::SocketAddr;
use std::net::TcpStream;
use std::sync::Arc;

use step01_iterative::Connection;
use step01_iterative::request::Request;
use step01_iterative::response::Persistence;
use step02_wsgi::environ::Origin;
use step02_wsgi::{Application, GatewayOptions};

use crate::access_log::AccessLog;
use crate::static_files::{self, Files};

/// An application mounted at a URL prefix.
pub struct Mount {
    /// The prefix, without a trailing slash (`/app`).
    pub prefix: String,
    /// The application serving everything under it.
    pub app: Arc<dyn Application>,
}

/// Everything a worker needs to answer requests.
pub struct Site {
    /// Static files.
    pub files: Files,
    /// Mounted applications, longest prefix first.
    pub mounts: Vec<Mount>,
    /// How the gateway presents itself (multithread/multiprocess).
    pub gateway: GatewayOptions,
    /// Where access lines go.
    pub log: AccessLog,
}

/// What answering one request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Whether the connection must close now.
    pub closes: bool,
}

impl Site {
    /// Sorts mounts so the longest prefix is tried first (`/app/admin`
    /// before `/app`).
    pub fn new(
        files: Files,
        mut mounts: Vec<Mount>,
        gateway: GatewayOptions,
        log: AccessLog,
    ) -> Site {
        for mount in &mut mounts {
            mount.prefix = mount.prefix.trim_end_matches('/').to_owned();
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Site {
            files,
            mounts,
            gateway,
            log,
        }
    }

    // ANCHOR: respond
    /// Answers one request on `connection`.
    pub fn respond(
        &self,
        connection: &mut Connection<TcpStream>,
        request: Request,
        peer: SocketAddr,
        local: SocketAddr,
        persistence: Persistence,
    ) -> Outcome {
        let mut request = request;
        // Mounts are matched on the decoded, normalised path, as files are:
        // `/ap%70/x` is under `/app`, and `/app/../hello.txt` is not.
        let canonical = crate::confine::canonical_path(request.target_parts().path);
        let mount = canonical
            .as_deref()
            .and_then(|path| self.mounts.iter().find(|m| under(path, &m.prefix)));
        if let (Some(mount), Some(path)) = (mount, canonical.as_deref()) {
            // The application sees the canonical target, so SCRIPT_NAME and
            // PATH_INFO split at the prefix it was matched on.
            let query = request
                .target_parts()
                .query
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            request.target = format!("{}{query}", static_files::encode_url_path(path));
            let origin = Origin {
                peer,
                local,
                script_name: mount.prefix.clone(),
                pass_authorization: true,
            };
            let sent = step02_wsgi::connection::respond(
                connection,
                request,
                &origin,
                &*mount.app,
                &self.gateway,
                persistence,
            );
            return Outcome {
                status: sent.status,
                bytes: sent.bytes,
                closes: sent.closes,
            };
        }
        let served =
            static_files::serve(connection.stream_mut(), &request, &self.files, persistence);
        Outcome {
            status: served.status,
            bytes: served.bytes,
            closes: served.broken || persistence == Persistence::Close,
        }
    }
    // ANCHOR_END: respond
}

/// Whether `path` is `prefix` itself or below it, by whole segments.
fn under(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::canonical_path;

    #[test]
    fn canonical_paths_are_decoded_and_normalised() {
        assert_eq!(canonical_path("/ap%70/x").as_deref(), Some("/app/x"));
        assert_eq!(
            canonical_path("/app/../hello.txt").as_deref(),
            Some("/hello.txt")
        );
        assert_eq!(canonical_path("/app/").as_deref(), Some("/app/"));
        assert_eq!(canonical_path("/").as_deref(), Some("/"));
        assert_eq!(canonical_path("/../x"), None);
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under("/app", "/app"));
        assert!(under("/app/x", "/app"));
        assert!(!under("/application", "/app"));
        assert!(!under("/", "/app"));
        assert!(under("/anything", ""));
    }
}
