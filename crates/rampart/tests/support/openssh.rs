//! Real OpenSSH for the bastion's tests, shared by the test binaries that
//! need it: Debian's `sshd` on a free loopback port as the target, the
//! `ssh` client (with `oathtool` answering the TOTP prompt through an
//! askpass script, and ControlMaster connections so one login carries many
//! sessions), and the `rampart` CLI.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rampart_testkit::{Session, TestServer, skip_without, unix_now};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_rampart");
pub const SSHD: &str = "/usr/sbin/sshd";

pub fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

pub fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Whether `needle` occurs in `hay` as a whole word (not inside a longer
/// run of letters or digits), so six-digit codes are not found inside ids.
pub fn occurs(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn keygen(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .output()
        .unwrap();
    ok(&out, "ssh-keygen");
    std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_owned()
}

pub fn sha256(path: &Path) -> String {
    sha256_of(&std::fs::read(path).unwrap())
}

pub fn sha256_of(bytes: &[u8]) -> String {
    rampart_core::secret::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// A real OpenSSH server on a loopback port, as the target.
pub struct Sshd {
    pub child: Child,
    pub port: u16,
    pub host_key: String,
    pub login: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// Starts sshd with its own host key, letting in `authorized` as the
    /// current user; forwarding and a few environment variables are allowed
    /// here so that a refusal is the bastion's doing.
    pub fn start(dir: &Path, authorized: &str) -> Sshd {
        let login =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_owned();
        let host_key = keygen(&dir.join("ssh_host_ed25519_key"));
        std::fs::write(dir.join("authorized_keys"), format!("{authorized}\n")).unwrap();
        // Privilege separation needs this directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/ssh_host_ed25519_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nStrictModes no\nUsePAM no\nPermitRootLogin yes\nAllowTcpForwarding yes\n\
             AcceptEnv LANG LC_* TZ EDITOR LD_PRELOAD\n\
             Subsystem sftp internal-sftp\nLogLevel VERBOSE\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { child, port, host_key, login }
    }
}

/// What every OpenSSH client invocation here shares.
pub struct Client {
    pub dir: PathBuf,
    pub bastion: SocketAddr,
    pub key: PathBuf,
    pub totp_secret: String,
}

impl Client {
    pub fn common(&self) -> Vec<String> {
        let kh = self.dir.join("known_hosts");
        [
            "-F",
            "/dev/null",
            "-o",
            &format!("UserKnownHostsFile={}", kh.display()),
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "PreferredAuthentications=publickey,keyboard-interactive",
            "-o",
            "ConnectTimeout=10",
            "-i",
            self.key.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    }

    pub fn control(&self, name: &str) -> PathBuf {
        self.dir.join(format!("ctl-{name}"))
    }

    /// `ssh` with `oathtool` answering the TOTP prompt for the code of the
    /// 30-second step `step`.
    pub fn ssh(&self, step: Option<u64>, args: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.common()).args(["-p", &self.bastion.port().to_string()]).args(args);
        let askpass = self.dir.join("askpass.sh");
        cmd.env("SSH_ASKPASS", &askpass).env("SSH_ASKPASS_REQUIRE", "force").env_remove("DISPLAY");
        cmd.env("RAMPART_TEST_TOTP_SECRET", &self.totp_secret);
        match step {
            Some(s) => cmd.env("RAMPART_TEST_TOTP_TIME", (s * 30).to_string()),
            None => cmd.env("RAMPART_TEST_TOTP_TIME", "wrong"),
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Opens a ControlMaster connection as `login` (`USER:TARGET`).
    pub fn master(&self, name: &str, login: &str, step: u64) -> Output {
        let ctl = self.control(name);
        self.ssh(
            Some(step),
            &["-M", "-S", ctl.to_str().unwrap(), "-o", "ControlPersist=yes", "-f", "-N", &format!("{login}@127.0.0.1")],
        )
        .output()
        .unwrap()
    }

    /// The options that make `scp` or `sftp` run over the master
    /// connection `name`, logged in as `user` (`USER:TARGET`).
    pub fn via_master(&self, name: &str, user: &str) -> Vec<String> {
        let ctl = format!("ControlPath={}", self.control(name).display());
        let own = ["-o", &ctl, "-o", "ControlMaster=no", "-o", &format!("User={user}")].map(str::to_owned);
        [self.common(), own.to_vec()].concat()
    }

    /// A command over an existing master connection.
    pub fn over(&self, name: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.common()).args(["-S", self.control(name).to_str().unwrap(), "-o", "ControlMaster=no"]);
        cmd.args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// An interactive shell under a pty over an existing master
    /// connection (`script` gives ssh the terminal), with piped stdio.
    pub fn interactive(&self, name: &str) -> Child {
        Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!(
                "ssh {} -S {} -o ControlMaster=no -tt x",
                self.common().join(" "),
                self.control(name).display()
            ))
            .arg("/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn close(&self, name: &str) {
        let _ = self.over(name, &["-O", "exit", "x"]).output();
    }
}

pub fn write_askpass(dir: &Path) {
    // OpenSSH runs this for the keyboard-interactive prompt; oathtool
    // computes the code for the step the test chose (or fails, for "wrong").
    let script = "#!/bin/sh\n[ \"$RAMPART_TEST_TOTP_TIME\" = wrong ] && { echo 000000; exit 0; }\n\
                  exec oathtool --totp -b \"$RAMPART_TEST_TOTP_SECRET\" --now \"@$RAMPART_TEST_TOTP_TIME\"\n";
    let path = dir.join("askpass.sh");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

pub fn rampart(server_url: &str, ca: &Path, token: &str, config_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--server", server_url, "--ca-cert", ca.to_str().unwrap()])
        .args(args)
        .env("RAMPART_TOKEN", token)
        .env("RAMPART_CONFIG_DIR", config_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Waits until a fresh TOTP step after `last` is accepted and returns it.
pub fn next_step(last: u64) -> u64 {
    // A code is accepted up to one step ahead of the clock.
    while unix_now() / 30 < last {
        std::thread::sleep(Duration::from_millis(250));
    }
    last + 1
}

/// A session's recording as the API hands it out: the plaintext asciicast,
/// decrypted by the node and checked against the ledger's hash.
pub async fn downloaded(server: &TestServer, admin: &Session, id: &str) -> Vec<u8> {
    let resp = server
        .request(reqwest::Method::GET, &format!("/api/v1/bastion/sessions/{id}/recording"), Some(&admin.token))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.bytes().await.unwrap().to_vec();
    assert_eq!(status, 200, "downloading the recording of {id}: {}", String::from_utf8_lossy(&body));
    body
}

pub async fn events(server: &TestServer, admin: &Session, kind: &str) -> Vec<Value> {
    let resp: Value = server
        .request(reqwest::Method::GET, &format!("/api/v1/audit/events?kind={kind}&limit=500"), Some(&admin.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["items"].as_array().cloned().unwrap_or_default()
}

/// What every test here starts from: the tools it needs (or a loud skip,
/// `None`), a work directory with the TOTP askpass script, and a real sshd
/// whose one authorised key is `target_login_key` in that directory.
pub struct World {
    pub work: tempfile::TempDir,
    pub dir: PathBuf,
    pub login_key: PathBuf,
    pub sshd: Sshd,
}

pub fn world(tools: &[&str]) -> Option<World> {
    let missing = [SSHD, "ssh", "oathtool", "ssh-keygen"].iter().chain(tools).find(|p| !have(p));
    if let Some(p) = missing
        && skip_without(&format!("{p} is missing"), "apt-get install openssh-server openssh-client oathtool bsdutils")
    {
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_path_buf();
    write_askpass(&dir);
    let login_key = dir.join("target_login_key");
    let sshd = Sshd::start(&dir, &keygen(&login_key));
    Some(World { work, dir, login_key, sshd })
}
