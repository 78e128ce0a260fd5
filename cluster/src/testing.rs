//! A real nats-server for tests and tools: the one `make setup` installs
//! (`$STREETCOMB_NATS_SERVER`, else `$STREETCOMB_CACHE/venv-nats/bin/nats-server`),
//! with JetStream in a temporary folder, on a free loopback port, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{ClusterError, Result};

/// A running nats-server.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> Result<NatsServer> {
        let path = binary();
        if !path.is_file() {
            return Err(ClusterError::Invalid(format!(
                "nats-server {} is missing: run `make setup`",
                path.display()
            )));
        }
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new(&path)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(NatsServer {
                    child,
                    url: format!("nats://127.0.0.1:{port}"),
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        Err(ClusterError::Invalid(format!(
            "{} did not accept connections on port {port}",
            path.display()
        )))
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// streetcomb's cache folder, where `make setup` puts its venvs.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("STREETCOMB_CACHE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".cache/streetcomb")
        })
}

fn binary() -> PathBuf {
    std::env::var_os("STREETCOMB_NATS_SERVER")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venv-nats/bin/nats-server"))
}
