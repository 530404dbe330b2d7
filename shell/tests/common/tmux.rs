//! Driving a program through a real pseudo-terminal with tmux (own server socket per
//! test): type text, press keys, read the screen.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server with one 200x50 window running a command.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Whether tmux can be run.
    pub fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux {args:?}: {e}"))
    }

    /// Starts `command` (run by `sh -c`); when it ends, `SHELL-EXITED:<code>` is printed and
    /// the window stays open.
    pub fn start(command: &str) -> Tmux {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmux = Tmux {
            socket: format!("shoal-test-{}-{nanos}", std::process::id()),
        };
        let wrapped = format!("{command}; echo SHELL-EXITED:$?; sleep 600");
        let out = tmux.tmux(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "200",
            "-y",
            "50",
            "sh",
            "-c",
            &wrapped,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    /// Types `text` literally (no Enter).
    pub fn type_text(&self, text: &str) {
        // tmux takes an argument ending in `;` as a command separator unless escaped.
        let arg = match text.strip_suffix(';') {
            Some(head) => format!("{head}\\;"),
            None => text.to_string(),
        };
        self.tmux(&["send-keys", "-t", "main", "-l", &arg]);
    }

    /// Presses keys by tmux name, e.g. `Enter`, `C-c`, `Tab`.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types a line and presses Enter.
    pub fn line(&self, text: &str) {
        self.type_text(text);
        self.keys(&["Enter"]);
    }

    /// The whole screen including scrollback, wrapped lines joined.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-t", "main", "-p", "-J", "-S", "-"])
                .stdout,
        )
        .into_owned()
    }

    /// Waits until `needle` appears `count` times on the screen; panics with the screen
    /// after `timeout`.
    pub fn wait_for_n(&self, needle: &str, count: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= count {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {needle:?} (x{count}); screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `needle` appears on the screen.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_n(needle, 1, Duration::from_secs(20))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
