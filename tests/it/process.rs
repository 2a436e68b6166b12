//! `siaga serve` as a real process on a free loopback port: started, watched
//! through its output, stopped by a signal or killed. Shared by the CLI
//! tests and the replica tests.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestDb;

/// The `siaga` binary, with none of the caller's siaga settings leaking in.
pub fn siaga() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_siaga"));
    command
        .env_remove("SIAGA_TOKEN")
        .env_remove("SIAGA_SERVER")
        .env_remove("SIAGA_DATABASE_URL")
        .env_remove("SIAGA_BOOTSTRAP_TOKEN")
        .env_remove("SIAGA_JOB_LEASE")
        .env_remove("SIAGA_JOB_CONCURRENCY");
    command
}

/// A `siaga serve` process on a free port; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub stdout: std::sync::mpsc::Receiver<String>,
    /// What it printed until it was listening.
    pub banner: String,
}

impl ServerProcess {
    /// Starts `command` (a `siaga serve` without `--listen`) and waits until
    /// it listens: it prints that line once its socket is bound, so requests
    /// from then on are served.
    pub fn start(mut command: Command) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("SIAGA_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, stdout) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = send.send(line);
                }
            });
        }
        let mut server = ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            stdout,
            banner: String::new(),
        };
        server.banner = server.wait_for_line("siaga is listening");
        server
    }

    /// `siaga serve` on `db` with the organisation in `config` and an admin
    /// holding `token`, plus `extra` arguments.
    pub fn serve(db: &TestDb, config: &Path, token: &str, extra: &[&str]) -> ServerProcess {
        let mut command = siaga();
        command
            .args(["serve", "--database-url", &db.url, "--config"])
            .arg(config)
            .args(extra)
            .env("SIAGA_BOOTSTRAP_TOKEN", token);
        ServerProcess::start(command)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line of output containing `text`; returns everything read.
    pub fn wait_for_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = String::new();
        while Instant::now() < deadline {
            if let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(100)) {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(text) {
                    return seen;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("siaga exited with {status} before printing {text:?}:\n{seen}");
            }
        }
        panic!("siaga did not print {text:?} in time:\n{seen}");
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGKILL: no shutdown code runs, as in a crash. Returns once the
    /// process is gone, so it writes nothing afterwards.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("siaga did not stop");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
