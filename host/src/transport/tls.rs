//! TLS for any listener with a `[listener.tls]` section (rustls, ring).
//!
//! The certificate chain and key come from PEM files named in the config.
//! With neither named, the host makes a self-signed certificate on first
//! start, keeps it in `<data_dir>/tls/` (so clients that pin it keep
//! working across restarts) and logs where it is.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsConfig;

pub fn acceptor(cfg: &TlsConfig, data_dir: &Path) -> anyhow::Result<TlsAcceptor> {
    let (cert, key) = match (&cfg.cert, &cfg.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => self_signed(data_dir)?,
        _ => bail!("[listener.tls] needs both cert and key, or neither (self-signed)"),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    if chain.is_empty() {
        bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("certificate and key do not match")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The self-signed pair in `<data_dir>/tls/`, made if absent.
fn self_signed(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("self-signed.crt"), dir.join("self-signed.key"));
    if cert.exists() && key.exists() {
        tracing::info!(cert = %cert.display(), "using the self-signed TLS certificate made earlier");
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .context("generating a self-signed certificate")?;
    write_private(&key, made.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert, made.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    tracing::warn!(cert = %cert.display(), key = %key.display(),
        "no TLS certificate configured: made a self-signed one (configure cert and key for production)");
    Ok((cert, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// An accepted connection as the protocol sees it: TLS when the listener
/// has an acceptor (handshake bounded by `timeout`), plain TCP otherwise.
pub async fn secure(
    stream: TcpStream,
    acceptor: Option<&TlsAcceptor>,
    timeout: Duration,
) -> std::io::Result<super::ws::BoxedIo> {
    Ok(match acceptor {
        Some(acceptor) => Box::new(handshake(acceptor, stream, timeout).await?),
        None => Box::new(stream),
    })
}

/// The server side of a TLS handshake, bounded by `timeout`.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> std::io::Result<TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig {
            cert: None,
            key: None,
            handshake_timeout_ms: 1000,
        };
        acceptor(&cfg, dir.path()).unwrap();
        let first = std::fs::read(dir.path().join("tls/self-signed.crt")).unwrap();
        acceptor(&cfg, dir.path()).unwrap();
        assert_eq!(
            first,
            std::fs::read(dir.path().join("tls/self-signed.crt")).unwrap()
        );
    }

    #[test]
    fn half_a_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig {
            cert: Some(dir.path().join("c.pem")),
            key: None,
            handshake_timeout_ms: 1000,
        };
        let err = acceptor(&cfg, dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("both cert and key"), "{err:#}");
    }
}
