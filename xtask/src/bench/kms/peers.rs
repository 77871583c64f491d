//! The other processes the KMS benchmark needs: moto's server (the KMS
//! emulator developers run locally), installed from PyPI when missing, and
//! a SoftHSM2 token in a temporary directory with the `rampart serve`
//! configuration that puts the root key inside it.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::super::node::NodeOptions;

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A `python3 -m moto.server` child process on loopback, plain HTTP.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    /// Starts moto on a free loopback port (installing `moto[server]` with
    /// pip first if it cannot be imported) and waits until it accepts
    /// connections. Its request log goes to a file in `work`.
    pub async fn start(work: &Path) -> Result<Moto> {
        let importable =
            || Command::new("python3").args(["-c", "import moto.server"]).output().is_ok_and(|o| o.status.success());
        if !importable() {
            eprintln!("xtask: moto[server] is not installed; installing it from PyPI with pip");
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "moto[server]"])
                .status()
                .is_ok_and(|s| s.success());
            if !ok || !importable() {
                bail!("could not install moto[server] with pip");
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(work.join("moto.log"))?;
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawning moto.server")?;
        let mut moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                bail!("moto.server exited ({status}); see {}", work.join("moto.log").display());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("moto.server did not accept connections within 30 s");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SoftHSM2 run's set-up, or why it cannot run.
#[derive(Debug)]
pub enum Hsm {
    Ready(NodeOptions),
    Skipped(String),
}

const SO_PIN: &str = "benchmark-so-pin";
const USER_PIN: &str = "benchmark-user-pin";
const MODULES: [&str; 3] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
];

/// Initialises a token labelled `rampart` in `work/softhsm` and writes the
/// configuration that makes `rampart serve` keep its root key there. The
/// configuration is first checked with `rampart config check`, so that a
/// binary without the `[kms.pkcs11]` keys skips this run with a clear
/// reason instead of failing it.
pub fn softhsm(binary: &Path, work: &Path) -> Result<Hsm> {
    if !have("softhsm2-util") && is_root() && have("apt-get") {
        eprintln!("xtask: softhsm2 is not installed; installing it with apt-get");
        let _ = Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "softhsm2"]).status();
    }
    if !have("softhsm2-util") {
        return Ok(Hsm::Skipped("skipped: softhsm2 is not installed (apt-get install softhsm2)".into()));
    }
    let Some(module) = MODULES.iter().map(PathBuf::from).find(|m| m.exists()) else {
        return Ok(Hsm::Skipped("skipped: libsofthsm2.so not found".into()));
    };
    let dir = work.join("softhsm");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens)?;
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
    )?;
    let status = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "rampart", "--so-pin", SO_PIN, "--pin", USER_PIN])
        .env("SOFTHSM2_CONF", &conf)
        .stdout(Stdio::null())
        .status()
        .context("softhsm2-util --init-token")?;
    if !status.success() {
        bail!("softhsm2-util --init-token failed ({status})");
    }
    // The server refuses a PIN file that others can read.
    let pin_file = dir.join("user-pin");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&pin_file)
        .and_then(|mut f| f.write_all(USER_PIN.as_bytes()))
        .context("writing the PIN file")?;
    let config = work.join("pkcs11.toml");
    std::fs::write(
        &config,
        format!(
            "[kms]\nkeystore = \"pkcs11\"\n[kms.pkcs11]\nmodule = {:?}\ntoken_label = \"rampart\"\npin_file = {:?}\n",
            module.display().to_string(),
            pin_file.display().to_string()
        ),
    )?;
    let env: Vec<(OsString, OsString)> = vec![("SOFTHSM2_CONF".into(), conf.into_os_string())];
    let check = Command::new(binary)
        .args(["config", "check"])
        .arg(&config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .context("rampart config check")?;
    if !check.status.success() {
        let why = String::from_utf8_lossy(&check.stderr);
        if why.contains("unknown") {
            return Ok(Hsm::Skipped("skipped: pkcs11 keystore not configurable yet".into()));
        }
        bail!("rampart config check refused the pkcs11 configuration: {why}");
    }
    Ok(Hsm::Ready(NodeOptions { config: Some(config), env }))
}
