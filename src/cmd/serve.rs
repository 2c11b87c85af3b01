//! `faultline serve [DIR] [--port P] [--bind ADDR]`: a local web UI over a reports root.
//!
//! Pages: `/` lists every run (newest first, filterable by spec and verdict), `/runs/<spec>/
//! <timestamp>/` opens a run's `report.html` (or, for a run without one, what it has so far),
//! `/runs/<path>` serves any file inside the root, and `/compare?a=<run>&b=<run>` sets two
//! runs of one spec side by side. `/api/runs` is the list as JSON and `/api/signature` a
//! digest of it, which the list page polls to reload when runs appear or finish.
//!
//! Safety: it binds to 127.0.0.1 unless `--bind` says otherwise; it only reads files and
//! executes nothing; a path is served only when, with every symlink resolved, it lies inside
//! the root (so `..`, its percent-encoded forms and symlinks that lead out are refused); and
//! a half-written or corrupt run directory is shown as such instead of failing the page.
//! Served pages carry a Content-Security-Policy that allows no network access, so a report
//! behaves as it does opened from disk.

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::exit::Code;
use crate::report::runs::{RunIndex, RunSummary};
use crate::report::{templates, REPORT_FILE};

mod compare;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The reports root: runs are DIR/<spec name>/<timestamp>/.
    #[arg(value_name = "DIR", default_value = "reports")]
    pub dir: PathBuf,
    /// The port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on. Anything but loopback shows the reports to the network.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,
}

pub fn execute(args: ServeArgs) -> anyhow::Result<Code> {
    let root = std::fs::canonicalize(&args.dir).with_context(|| {
        format!(
            "cannot open the reports root {}; runs land there with `faultline run SPEC --out {}`",
            args.dir.display(),
            args.dir.display()
        )
    })?;
    anyhow::ensure!(root.is_dir(), "{} is not a directory", root.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}; pick another with --port"))?;
        let local = listener.local_addr()?;
        crate::outln!("serving {} at http://{local}/", root.display());
        axum::serve(listener, router(root))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the server stopped")
    })?;
    Ok(Code::Valid)
}

type Shared = Arc<RunIndex>;

/// The web UI over `root` (a canonical path).
pub fn router(root: PathBuf) -> Router {
    let index: Shared = Arc::new(RunIndex::new(root));
    Router::new()
        .route("/", get(list))
        .route("/api/runs", get(api_runs))
        .route("/api/signature", get(signature))
        .route("/compare", get(compare::handler))
        .route("/runs/{*path}", get(file))
        .with_state(index)
}

/// What went wrong with a request, as a page.
pub(crate) struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_string();
        let body = templates::render(
            "serve_error.html",
            context! { title, message => self.message, root => "" },
        )
        .unwrap_or_else(|e| format!("{e:#}"));
        (self.status, html_headers(), body).into_response()
    }
}

fn html_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        // Pages (ours and reports) use inline script and style only; nothing may be fetched
        // from elsewhere, as when a report is opened from disk.
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
            ),
        ),
    ]
}

pub(crate) fn page(name: &str, ctx: minijinja::Value) -> Response {
    match templates::render(name, ctx) {
        Ok(body) => (html_headers(), body).into_response(),
        Err(e) => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

/// Runs file-system work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// `/runs/<spec>/<stamp>/`: the link to a run.
pub(crate) fn run_href(id: &str) -> String {
    let mut href = String::from("/runs/");
    for segment in id.split('/') {
        href.push_str(&percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string());
        href.push('/');
    }
    href
}

/// Characters escaped in one path segment: everything but unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A run as the list shows it.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    run: &'a RunSummary,
    status: &'static str,
    href: String,
    /// The compare page for this run and the run of the same spec before it.
    compare_href: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    spec: String,
    #[serde(default)]
    verdict: String,
}

const STATUSES: [&str; 5] = ["valid", "invalid", "unknown", "in-progress", "corrupt"];

async fn list(State(index): State<Shared>, Query(q): Query<ListQuery>) -> Response {
    let runs = match blocking({
        let index = index.clone();
        move || index.list()
    })
    .await
    {
        Ok(runs) => runs,
        Err(e) => return e.into_response(),
    };
    let mut specs: Vec<&str> = runs.iter().map(|r| r.spec.as_str()).collect();
    specs.sort_unstable();
    specs.dedup();
    let rows: Vec<Row> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| q.spec.is_empty() || r.spec == q.spec)
        .filter(|(_, r)| q.verdict.is_empty() || r.status() == q.verdict)
        .map(|(i, r)| Row {
            run: r,
            status: r.status(),
            href: run_href(&r.id),
            compare_href: runs[i + 1..]
                .iter()
                .find(|o| o.spec == r.spec)
                .map(|prev| compare::href(&prev.id, &r.id)),
        })
        .collect();
    page(
        "serve_list.html",
        context! {
            title => "Runs",
            root => index.root().display().to_string(),
            runs => rows,
            total => runs.len(),
            specs,
            statuses => STATUSES,
            spec => q.spec,
            verdict => q.verdict,
            signature => digest(&runs),
        },
    )
}

/// A digest of what the list shows, cheap to compare: it changes when a run appears,
/// progresses or finishes.
fn digest(runs: &[RunSummary]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for r in runs {
        (&r.id, r.status(), r.ops.total, r.ops.ok, r.has_report).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

async fn signature(State(index): State<Shared>) -> Result<String, Refusal> {
    blocking(move || digest(&index.list())).await
}

async fn api_runs(State(index): State<Shared>) -> Result<Json<Vec<RunSummary>>, Refusal> {
    Ok(Json(blocking(move || index.list()).await?))
}

/// `/runs/<path>`: a file inside the root, a run's report, or a run's page.
async fn file(
    State(index): State<Shared>,
    axum::extract::Path(rel): axum::extract::Path<String>,
) -> Response {
    let root = index.root().to_path_buf();
    let path = match blocking(move || resolve(&root, &rel)).await {
        Ok(Ok(path)) => path,
        Ok(Err(refusal)) | Err(refusal) => return refusal.into_response(),
    };
    if path.is_dir() {
        return run_dir(index, path).await;
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut headers = html_headers();
            headers[0].1 = HeaderValue::from_static(content_type(&path));
            (headers, bytes).into_response()
        }
        Err(e) => Refusal::new(StatusCode::NOT_FOUND, format!("cannot read the file: {e}"))
            .into_response(),
    }
}

/// A run directory: its report when it has one, else a page with what it holds so far.
async fn run_dir(index: Shared, dir: PathBuf) -> Response {
    let rel = dir.strip_prefix(index.root()).unwrap_or(&dir).to_path_buf();
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let [spec, stamp] = parts.as_slice() else {
        return Refusal::new(
            StatusCode::NOT_FOUND,
            "not a run directory: runs are <spec>/<timestamp>/",
        )
        .into_response();
    };
    let id = format!("{spec}/{stamp}");
    if dir.join(REPORT_FILE).is_file() {
        return Redirect::to(&format!("{}{REPORT_FILE}", run_href(&id))).into_response();
    }
    let (spec, stamp) = (spec.clone(), stamp.clone());
    let (run, files) = match blocking(move || {
        let run = index.summary(&spec, &stamp);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        (run, files)
    })
    .await
    {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let href = run_href(&run.id);
    let links: Vec<(String, String)> = files
        .into_iter()
        .map(|f| {
            let link = format!(
                "{href}{}",
                percent_encoding::utf8_percent_encode(&f, SEGMENT)
            );
            (f, link)
        })
        .collect();
    page(
        "serve_run.html",
        context! {
            title => run.id.clone(),
            root => "",
            status => run.status(),
            run,
            files => links,
        },
    )
}

/// The file or directory `rel` names inside `root`, with every symlink resolved; refused
/// when it leads outside the root or does not exist.
pub(crate) fn resolve(root: &Path, rel: &str) -> Result<PathBuf, Refusal> {
    let forbidden = || Refusal::new(StatusCode::FORBIDDEN, "that path leads outside the reports");
    let mut path = root.to_path_buf();
    for part in Path::new(rel).components() {
        match part {
            Component::Normal(name) => path.push(name),
            Component::CurDir => {}
            // `..`, a root or a prefix could leave the root: refused before touching the disk.
            _ => return Err(forbidden()),
        }
    }
    if rel.contains('\0') || rel.contains('\\') {
        return Err(forbidden());
    }
    let real = std::fs::canonicalize(&path)
        .map_err(|_| Refusal::new(StatusCode::NOT_FOUND, format!("no such file: {rel}")))?;
    if !real.starts_with(root) {
        return Err(forbidden());
    }
    Ok(real)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        // History, logs, specs, JUnit: shown as text, never interpreted.
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_dot_dot_are_refused_before_the_disk_is_read() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        for rel in ["../etc/passwd", "a/../../x", "/etc/passwd"] {
            let refusal = resolve(&root, rel).expect_err(rel);
            assert_eq!(refusal.status, StatusCode::FORBIDDEN, "{rel}");
        }
    }

    #[test]
    fn a_symlink_leading_out_of_the_root_is_refused_and_one_inside_is_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("out")).unwrap();
        std::fs::write(root.join("file"), "y").unwrap();
        std::os::unix::fs::symlink("file", root.join("in")).unwrap();
        assert_eq!(
            resolve(&root, "out").err().unwrap().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(resolve(&root, "in").ok().unwrap(), root.join("file"));
    }

    #[test]
    fn run_links_escape_each_segment() {
        assert_eq!(run_href("a b/2026#1"), "/runs/a%20b/2026%231/");
    }
}
