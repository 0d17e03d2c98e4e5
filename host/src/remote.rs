//! `wasmgate plugins …`: a running host's plugins through its admin API,
//! so an operator needs no curl.
//!
//! - `plugins list` — `GET /plugins`, as a table (or `--json`)
//! - `plugins reload NAME` — `POST /plugins/NAME/reload`
//! - `plugins check FILE --world W` — whether a file implements a world,
//!   checked here by this binary (the same check `wasmgate check` and the
//!   host make before they load a file; no host needed, no bytes sent)
//!
//! The host is `--admin URL` (default `http://127.0.0.1:9000`); an
//! `https://` URL (a host with `[admin.tls]`) is verified against `--ca
//! FILE` (e.g. the host's `<state dir>/tls/self-signed.crt`), else the
//! system's CA bundle (`$SSL_CERT_FILE`, `/etc/ssl/certs/ca-certificates.crt`);
//! `--insecure` skips the verification. The token comes from the
//! environment (`WASMGATE_ADMIN_TOKEN`), never from the command line, where
//! other users could read it in the process list. Any failure — the host
//! unreachable, the token refused, a reload refused — is said on stderr and
//! exits 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Method, StatusCode, Uri, header};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// `wasmgate plugins`: where the host is, and what to do.
#[derive(clap::Args, Debug)]
pub struct PluginsArgs {
    /// The host's admin API (http:// or https://); its token is read from
    /// $WASMGATE_ADMIN_TOKEN.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:9000"
    )]
    admin: String,
    /// PEM certificates to trust for an https:// admin URL, e.g. the host's
    /// <state dir>/tls/self-signed.crt.
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Accept any certificate of an https:// admin URL: encrypted, but the
    /// host is not authenticated.
    #[arg(long, global = true, conflicts_with = "ca")]
    insecure: bool,
    /// Seconds to wait for the host's answer.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Every plugin of the host: world, whether it is loaded, generation,
    /// SHA-256, file and last reload error.
    List {
        /// The admin API's JSON as it is.
        #[arg(long)]
        json: bool,
    },
    /// Reload a plugin from its file now (the host also does it by itself
    /// when the file changes).
    Reload { name: String },
    /// Say whether a .wasm file implements a world, and why not (checked
    /// here; the same as `wasmgate check`).
    Check {
        file: PathBuf,
        #[arg(long)]
        world: String,
    },
}

/// Runs `wasmgate plugins …`.
pub fn main(args: PluginsArgs) -> ExitCode {
    if let Action::Check { file, world } = &args.action {
        return check(file, world);
    }
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
        .and_then(|rt| rt.block_on(remote(&args)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmgate plugins: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `wasmgate check` and `wasmgate plugins check`: prints the verdict;
/// success only if `file` implements `world`.
pub fn check(file: &Path, world: &str) -> ExitCode {
    match crate::runtime::check_file(file, world, crate::protocol::WORLDS) {
        Ok(()) => {
            println!("ok: {} implements world {world:?}", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!(
                "no: {} does not implement world {world:?}: {e:#}",
                file.display()
            );
            ExitCode::FAILURE
        }
    }
}

async fn remote(args: &PluginsArgs) -> anyhow::Result<()> {
    let admin = Admin::new(args)?;
    match &args.action {
        Action::List { json } => {
            let list = admin.call(Method::GET, "/plugins").await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", table(&list)?);
            }
        }
        Action::Reload { name } => {
            if name.is_empty() || name.contains(['/', '?', '#', '%']) {
                bail!("{name:?} is not a plugin name");
            }
            let outcome = admin
                .call(Method::POST, &format!("/plugins/{name}/reload"))
                .await
                .with_context(|| format!("reloading {name}"))?;
            println!("{name}: {}", reloaded(&outcome));
        }
        Action::Check { .. } => unreachable!("checked locally in main"),
    }
    Ok(())
}

/// A host's admin API.
struct Admin {
    url: String,
    uri: Uri,
    tls: Option<Arc<rustls::ClientConfig>>,
    token: Option<String>,
    timeout: Duration,
}

impl Admin {
    fn new(args: &PluginsArgs) -> anyhow::Result<Admin> {
        let url = args.admin.trim_end_matches('/').to_string();
        let uri: Uri = url
            .parse()
            .with_context(|| format!("--admin {url:?} is not a URL"))?;
        if uri.host().is_none() {
            bail!("--admin {url:?} has no host (e.g. http://127.0.0.1:9000)");
        }
        if uri.query().is_some() {
            bail!("--admin {url:?}: give the API's address without a query");
        }
        let tls = match uri.scheme_str() {
            Some("http") => {
                if args.ca.is_some() || args.insecure {
                    bail!("--ca and --insecure are for an https:// admin URL");
                }
                None
            }
            Some("https") => Some(client_config(args.ca.as_deref(), args.insecure)?),
            _ => bail!("--admin {url:?}: the URL must start with http:// or https://"),
        };
        Ok(Admin {
            url,
            uri,
            tls,
            token: std::env::var("WASMGATE_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
            timeout: Duration::from_secs(args.timeout.max(1)),
        })
    }

    /// One request; the JSON answer of a 2xx, else an error saying what
    /// the host said.
    async fn call(&self, method: Method, path: &str) -> anyhow::Result<Value> {
        let (status, body) = tokio::time::timeout(self.timeout, self.exchange(method, path))
            .await
            .map_err(|_| {
                anyhow!(
                    "the admin API at {} did not answer within {:?}",
                    self.url,
                    self.timeout
                )
            })??;
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return json.ok_or_else(|| anyhow!("the admin API at {} answered no JSON", self.url));
        }
        let said = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        if status == StatusCode::UNAUTHORIZED {
            bail!(
                "the admin API at {} refused the request (401): {}",
                self.url,
                match self.token {
                    Some(_) => "the token in WASMGATE_ADMIN_TOKEN is not the host's",
                    None => "it needs a token: set WASMGATE_ADMIN_TOKEN",
                }
            );
        }
        bail!("{said} ({status})");
    }

    async fn exchange(&self, method: Method, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        let host = self.uri.host().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let port = self
            .uri
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((bare, port))
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.url))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = ServerName::try_from(bare.to_string())
                    .with_context(|| format!("{host:?} is not a TLS server name"))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .with_context(|| {
                        format!(
                            "TLS with the admin API at {} failed (is it https? does --ca name its certificate?)",
                            self.url
                        )
                    })?;
                Box::new(tls)
            }
        };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let target = format!("{}{path}", self.uri.path().trim_end_matches('/'));
        let authority = self
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header(header::HOST, authority)
            .header(header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.trim()));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .context("building the request")?;
        let answer = sender.send_request(request).await.with_context(|| {
            format!(
                "the admin API at {} closed the connection (is it https?)",
                self.url
            )
        })?;
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the answer of {}", self.url))?
            .to_bytes();
        Ok((status, body))
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// The TLS client of an https:// admin URL: trusting `ca`, else the
/// system's CA bundle; or, `insecure`, any certificate.
fn client_config(ca: Option<&Path>, insecure: bool) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    if insecure {
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
        ));
    }
    let bundle = match ca {
        Some(ca) => ca.to_path_buf(),
        None => system_bundle().ok_or_else(|| {
            anyhow!("an https:// admin URL needs --ca FILE (e.g. the host's <state dir>/tls/self-signed.crt) or --insecure: no system CA bundle found")
        })?,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&bundle)
        .with_context(|| format!("reading {}", bundle.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", bundle.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        bail!("no usable certificate in {}", bundle.display());
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

fn system_bundle() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/etc/ssl/certs/ca-certificates.crt")])
        .find(|p| p.is_file())
}

/// `--insecure`: any certificate is taken; the handshake's signatures are
/// still checked (the session is encrypted with the key that signed them).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `GET /plugins` as a table, one plugin a line, then each reload error.
fn table(list: &Value) -> anyhow::Result<String> {
    let plugins = list
        .as_array()
        .ok_or_else(|| anyhow!("GET /plugins answered no list: {list}"))?;
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rows = vec![["NAME", "WORLD", "LOADED", "GEN", "SHA256", "FILE"].map(String::from)];
    for p in plugins {
        let sha: String = text(&p["sha256"]).chars().take(12).collect();
        rows.push([
            text(&p["name"]),
            text(&p["world"]),
            if p["loaded"] == true { "yes" } else { "no" }.to_string(),
            text(&p["generation"]),
            sha,
            text(&p["file"]),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for p in plugins {
        if let Some(error) = p["last_reload_error"].as_str() {
            out.push_str(&format!(
                "{}: last reload failed: {}\n",
                text(&p["name"]),
                crate::logs::EscText(error)
            ));
        }
    }
    Ok(out)
}

/// A reload's outcome in words.
fn reloaded(outcome: &Value) -> String {
    let sha = outcome["sha256"].as_str().unwrap_or("?");
    match outcome["outcome"].as_str() {
        Some("loaded") => format!("loaded, generation {}, sha256 {sha}", outcome["generation"]),
        Some("unchanged") => format!("unchanged, the file is the version serving (sha256 {sha})"),
        Some("native") => "native: compiled into the host, nothing to load".to_string(),
        _ => outcome.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_lines_up_and_shows_reload_errors() {
        let list = json!([
            {"name": "chat", "world": "chat", "file": "/p/chat.wasm", "loaded": true,
             "sha256": "0123456789abcdef0123", "generation": 2, "last_reload_error": null},
            {"name": "locker", "world": "locker", "file": "/p/locker.wasm", "loaded": false,
             "sha256": null, "generation": null, "last_reload_error": "no such file\u{1b}[2J"},
        ]);
        let out = table(&list).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(
            lines[0].starts_with("NAME    WORLD   LOADED  GEN  SHA256"),
            "{out}"
        );
        assert!(
            lines[1].contains("chat    chat    yes     2    0123456789ab  /p/chat.wasm"),
            "{out}"
        );
        assert!(lines[2].contains("locker  locker  no      -    -"), "{out}");
        // a control character from a file name or error is escaped
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(
            lines[3].starts_with("locker: last reload failed: no such file"),
            "{out}"
        );
        assert!(table(&json!({"error": "x"})).is_err());
    }

    #[test]
    fn reload_outcomes_in_words() {
        assert_eq!(
            reloaded(&json!({"outcome": "loaded", "sha256": "ab", "generation": 3})),
            "loaded, generation 3, sha256 ab"
        );
        assert!(
            reloaded(&json!({"outcome": "unchanged", "sha256": "ab"})).starts_with("unchanged")
        );
    }
}
