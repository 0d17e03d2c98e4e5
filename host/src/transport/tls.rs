//! TLS for any listener with a `[listener.tls]` section and for the admin
//! API with `[admin.tls]` (rustls, ring).
//!
//! The certificate chain and key come from PEM files named in the config.
//! With neither named, the host makes a self-signed certificate on first
//! start, keeps it in `<state_dir>/tls/` (so clients that pin it keep
//! working across restarts) and logs where it is; every TLS section
//! without files shares it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsConfig;

pub fn acceptor(cfg: &TlsConfig, state_dir: &Path) -> anyhow::Result<TlsAcceptor> {
    let (cert, key) = match (&cfg.cert, &cfg.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => self_signed(state_dir)?,
        _ => bail!("a tls section needs both cert and key, or neither (self-signed)"),
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

/// The self-signed pair in `<state_dir>/tls/`, made if absent.
fn self_signed(state_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = state_dir.join("tls");
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

/// Handshakes in flight at once on one [`Incoming`]; past them, accepting
/// waits (a flood of silent clients cannot grow the task count).
const MAX_HANDSHAKES: usize = 128;

/// The TLS connections of a listener for a server that takes whole
/// streams (the admin API): each accepted connection is handshaken in a
/// task of its own, bounded by `timeout`, so a slow or silent client holds
/// up no other; a failed handshake is dropped here. Dropping it closes the
/// listener.
pub struct Incoming {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Incoming {
    pub fn new(
        tcp: TcpListener,
        acceptor: TlsAcceptor,
        timeout: Duration,
        what: &'static str,
    ) -> std::io::Result<Incoming> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(MAX_HANDSHAKES);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // out of descriptors, mostly: wait, do not spin
                        crate::limited!(warn, error = %e, what, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match handshake(&acceptor, stream, timeout).await {
                        Ok(tls) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Err(e) => {
                            crate::limited!(debug, %peer, error = %e, what, "TLS handshake failed")
                        }
                    }
                    drop(slot);
                });
            }
        });
        Ok(Incoming {
            ready,
            local,
            accepting,
        })
    }

    /// The next connection whose handshake succeeded.
    pub async fn next(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // the accept task holds a sender until it is aborted
            None => std::future::pending().await,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.accepting.abort();
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

    /// A client that connects and says nothing holds up no other: the next
    /// one's handshake completes while the first waits out its timeout.
    #[tokio::test]
    async fn a_silent_client_does_not_hold_up_the_next() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig {
            cert: None,
            key: None,
            handshake_timeout_ms: 60_000,
        };
        let acceptor = acceptor(&cfg, dir.path()).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut incoming = Incoming::new(tcp, acceptor, Duration::from_secs(60), "test").unwrap();
        let addr = incoming.local_addr();
        let _silent = TcpStream::connect(addr).await.unwrap();

        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(dir.path().join("tls/self-signed.crt")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let talk = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            tls.write_all(b"ping").await.unwrap();
            tls.flush().await.unwrap();
            tls
        };
        let served = async {
            let (mut conn, _) = incoming.next().await;
            let mut got = [0u8; 4];
            conn.read_exact(&mut got).await.unwrap();
            got
        };
        let (_client, got) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(talk, served)
        })
        .await
        .expect("the second client was served while the first stayed silent");
        assert_eq!(&got, b"ping");
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
