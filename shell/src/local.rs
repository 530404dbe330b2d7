//! A local server for the server build's `shoal` without arguments: the
//! shell starts `shoal server` in the background on a free loopback port,
//! connects to it, and stops it (gracefully, so it flushes) when the shell
//! exits. (The simulation build's `shoal` opens a simulated cluster instead.)

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A background `shoal server` owned by the shell.
pub struct LocalServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The data directory.
    pub data: PathBuf,
}

/// Where the local server keeps its data: `$XDG_DATA_HOME/shoal/local`,
/// else `~/.local/share/shoal/local`, else a directory under the temp dir.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("shoal/local");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/share/shoal/local"),
        None => std::env::temp_dir().join("shoal-local"),
    }
}

/// Where a running local server's address is kept, for a second shell to
/// name it.
const URL_FILE: &str = "server.url";

/// Why `data` cannot take another local server: another shell's (or a
/// server started by hand) holds its lock. `None` when it is free: the
/// lock, taken by the server's own `FsDisk::open` and dropped at once, is
/// free again for the server about to start.
fn in_use(data: &Path) -> Option<String> {
    let busy = shoal_engine::disk::FsDisk::open(data.join("data"))
        .is_err_and(|e| e.kind() == std::io::ErrorKind::ResourceBusy);
    if !busy {
        return None;
    }
    let url = std::fs::read_to_string(data.join(URL_FILE)).unwrap_or_default();
    Some(match url.trim() {
        "" => format!(
            "the local data directory {} is in use by another Shoal server: stop it first",
            data.display()
        ),
        url => format!(
            "the local data directory {} is in use by another shell's server at {url}: \
             connect to it with `shoal shell --hosts {url}`, or leave that shell first",
            data.display()
        ),
    })
}

impl LocalServer {
    /// Starts `exe server` on `data` and waits until it answers. A data
    /// directory in use by another shell's server is an error that names
    /// that server (its log is left as it is).
    pub fn start(exe: &std::path::Path, data: PathBuf) -> Result<LocalServer, String> {
        std::fs::create_dir_all(&data)
            .map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        if let Some(reason) = in_use(&data) {
            return Err(reason);
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let log_path = data.join("server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot write {}: {e}", log_path.display()))?;
        let mut command = Command::new(exe);
        command.args(["server", "--data"]).arg(data.join("data"));
        // COPY may use the directory the shell was started in, the usual
        // place of the files a user imports; the server refuses every other
        // path (and its own data directory) unless started by hand with
        // more --copy-root directories.
        if let Ok(cwd) = std::env::current_dir() {
            command.arg("--copy-root").arg(cwd);
        }
        let child = command
            .args([
                "--http",
                &format!("127.0.0.1:{port}"),
                "--node-name",
                "local",
                "--cluster-name",
                "shoal-local",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let mut server = LocalServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Only a hint for another shell: failing to leave it is no error.
                let _ = std::fs::write(server.data.join(URL_FILE), &server.url);
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "the local server exited ({status}): {}",
                    log.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "the local server did not start listening (see {})",
            log_path.display()
        ))
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.data.join(URL_FILE));
        // SIGTERM lets the server flush its shards; fall back to SIGKILL.
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
