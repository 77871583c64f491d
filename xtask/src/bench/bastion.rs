//! `cargo xtask bench bastion`: the SSH bastion beside going straight to
//! the same target, in one run, with the real OpenSSH clients and Debian's
//! `sshd` as the target.
//!
//! - Throughput: `scp` of a large file (1 GiB by default) up and down,
//!   through the bastion and directly; the ratio against the 85 %
//!   target (Warpgate was reported at about 60 vs 90 MB/s direct).
//! - Time to a first command's output on a fresh connection (`ssh HOST
//!   'echo ready'`), and time to an interactive shell's prompt (`ssh -tt
//!   HOST` until the prompt is printed): through the bastion (key, then a
//!   TOTP code the askpass script answers at once, so typing is excluded)
//!   and directly (key); the overhead against the 30 ms target. A shell
//!   through the bastion also starts its recording and red-line gate.
//! - Idle sessions: N exec sessions (`sleep`) held open at once and the
//!   bastion's resident memory against the 500 MB target (Teleport
//!   publishes about 62 MiB per session). Every TOTP code works once and a
//!   user gets a new one every 30 s, so the sessions share one multiplexed
//!   client connection (OpenSSH ControlMaster): each is still its own
//!   channel on the bastion with its own recording, index row, ledger
//!   events, pump and grant watcher, and its own channel on the target.
//!
//! Each user of the run is created through the API, enrols TOTP and
//! registers its own key, as a person would; the target and grants are
//! set up the same way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::kms::cpu_secs;
use super::node::{Node, NodeOptions, bar, build_release, median, ms, percentile, unix_now};

const SSHD: &str = "/usr/sbin/sshd";

#[derive(Debug, clap::Args)]
pub struct BastionArgs {
    /// Size of the file copied with scp, in MiB.
    #[arg(long, default_value_t = 1024)]
    mib: usize,
    /// Fresh connections to time, each way (one bastion user per login).
    #[arg(long, default_value_t = 10)]
    logins: usize,
    /// Idle sessions held open at once.
    #[arg(long, default_value_t = 500)]
    sessions: usize,
    /// Use this binary instead of building `target/release/rampart`.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Copies each way per path; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// OpenSSH `Ciphers` for the client on both paths (default: the
    /// client's own order, which picks ChaCha20-Poly1305 first).
    #[arg(long)]
    ciphers: Option<String>,
    /// Give the bastion a CPU of its own, as a bastion host has: the node
    /// on the last CPU, the OpenSSH clients and sshd (with its sftp-server)
    /// on the others, on both paths. Without it every process shares every
    /// CPU, so the ratio also counts the bastion's CPU against the copy.
    #[arg(long)]
    pin: bool,
}

/// The CPU lists for `taskset`: the bastion's and the endpoints'.
fn cpu_split() -> Result<(String, String)> {
    let n = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    if n < 2 {
        bail!("--pin needs at least two CPUs (this machine has {n})");
    }
    Ok(((n - 1).to_string(), if n == 2 { "0".to_owned() } else { format!("0-{}", n - 2) }))
}

/// `program` as a command, run on `cpus` when pinning.
fn pinned(program: &str, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpus, program]);
            cmd
        }
        None => Command::new(program),
    }
}

pub fn run(args: BastionArgs) -> Result<()> {
    for tool in [SSHD, "ssh", "scp", "ssh-keygen"] {
        if !Path::new(tool).exists() && !crate::have(tool) {
            bail!("{tool} is missing (apt-get install openssh-server openssh-client)");
        }
    }
    let binary = match args.binary.clone() {
        Some(b) => b,
        None => build_release()?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(bench(&binary, &args))
}

fn keygen(path: &Path) -> Result<String> {
    let out =
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f"]).arg(path).output()?;
    if !out.status.success() {
        bail!("ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(std::fs::read_to_string(path.with_extension("pub"))?.trim().to_owned())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Debian's sshd on a loopback port as the target, allowing enough
/// sessions per connection and connections at once for the run.
struct Sshd {
    child: Child,
    port: u16,
    host_key: String,
    login: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start(dir: &Path, authorized: &str, sessions: usize, cpus: Option<&str>) -> Result<Sshd> {
        let login = String::from_utf8(Command::new("id").arg("-un").output()?.stdout)?.trim().to_owned();
        let host_key = keygen(&dir.join("ssh_host_ed25519_key"))?;
        std::fs::write(dir.join("authorized_keys"), format!("{authorized}\n"))?;
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port()?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/ssh_host_ed25519_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nStrictModes no\nUsePAM no\nPermitRootLogin yes\nSubsystem sftp internal-sftp\n\
             MaxSessions {max}\nMaxStartups 100:30:200\nLogLevel ERROR\n",
            dir = dir.display(),
            max = sessions + 10,
        );
        std::fs::write(dir.join("sshd_config"), config)?;
        let log = std::fs::File::create(dir.join("sshd.log"))?;
        let child = pinned(SSHD, cpus)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting sshd")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("sshd did not start: {}", std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Sshd { child, port, host_key, login })
    }
}

/// One bastion user: name, key file and TOTP secret.
struct User {
    name: String,
    key: PathBuf,
    secret: Vec<u8>,
}

/// The OpenSSH options every client invocation shares.
fn common(dir: &Path, key: &Path, ciphers: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = [
        "-F",
        "/dev/null",
        "-o",
        &format!("UserKnownHostsFile={}", dir.join("known_hosts").display()),
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=no",
        "-o",
        "PreferredAuthentications=publickey,keyboard-interactive",
        "-o",
        "Compression=no",
        "-i",
        &key.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(c) = ciphers {
        args.extend(["-o".to_owned(), format!("Ciphers={c}")]);
    }
    args
}

/// A client command for `user` through the bastion, with an askpass
/// script that answers the TOTP prompt with the code of the current step.
fn via_bastion(
    program: &str,
    dir: &Path,
    user: &User,
    port_flag: &str,
    port: u16,
    args: &BastionArgs,
) -> Result<Command> {
    let step = unix_now() / 30;
    let code = rampart_auth::totp::code_at(&user.secret, step * 30)?;
    let ciphers = args.ciphers.as_deref();
    let mut cmd = pinned(program, endpoint_cpus(args)?.as_deref());
    cmd.args(common(dir, &user.key, ciphers)).args([port_flag, &port.to_string()]);
    cmd.env("SSH_ASKPASS", dir.join("askpass.sh"))
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("BENCH_TOTP", secrecy::ExposeSecret::expose_secret(&code))
        .env_remove("DISPLAY")
        .stdin(Stdio::null());
    Ok(cmd)
}

/// The CPUs the OpenSSH processes run on (`None`: any).
fn endpoint_cpus(args: &BastionArgs) -> Result<Option<String>> {
    Ok(if args.pin { Some(cpu_split()?.1) } else { None })
}

/// Prints the medians and 90th percentiles of a login measure through the
/// bastion and direct, and the overhead against the 30 ms target.
fn print_overhead(what: &str, mut through: Vec<Duration>, mut straight: Vec<Duration>) {
    through.sort();
    straight.sort();
    let (mt, ms_) = (median(through.clone()), median(straight.clone()));
    println!("{what}, {} each:", through.len());
    println!(
        "  bastion median {:.1} ms (p90 {:.1}), direct median {:.1} ms (p90 {:.1}); overhead {:.1} ms (target <= 30 ms)",
        ms(mt),
        ms(percentile(&through, 90.0)),
        ms(ms_),
        ms(percentile(&straight, 90.0)),
        ms(mt) - ms(ms_)
    );
}

/// Starts `cmd` (an `ssh -tt` to a shell) and returns the time until the
/// shell's prompt (output ending in `# ` or `$ `, after any escape
/// sequences) appears; then leaves the shell.
fn time_to_prompt(mut cmd: Command) -> Result<Duration> {
    use std::io::{Read, Write};
    let started = Instant::now();
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let mut out = child.stdout.take().context("the client's output")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let (mut buf, mut seen) = ([0u8; 4096], Vec::new());
        let mut told = false;
        while let Ok(n @ 1..) = out.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
            if !told && (seen.ends_with(b"# ") || seen.ends_with(b"$ ")) {
                told = true;
                let _ = tx.send(started.elapsed());
            }
        }
        seen
    });
    let got = rx.recv_timeout(Duration::from_secs(30));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"exit\n");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
    let seen = reader.join().unwrap_or_default();
    match got {
        Ok(took) => Ok(took),
        Err(_) => bail!("no shell prompt within 30 s; the client printed {:?}", String::from_utf8_lossy(&seen)),
    }
}

fn checked(out: std::process::Output, what: &str) -> Result<std::process::Output> {
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(out)
}

/// Writes `mib` MiB of incompressible bytes (xorshift), quickly.
fn write_file(path: &Path, mib: usize) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        f.write_all(&block)?;
    }
    f.flush()?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

async fn post(node: &Node, token: Option<&str>, path: &str, body: Value) -> Result<Value> {
    let mut request = node.client.post(format!("{}{path}", node.url)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("POST {path}: {status}: {text}");
    }
    Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
}

/// Creates an operations engineer, enrols TOTP, registers a key and grants
/// it every session action on `db`.
async fn make_user(node: &Node, admin: &str, dir: &Path, i: usize) -> Result<User> {
    let name = format!("ops{i}");
    let password = format!("benchmark password {i}");
    post(
        node,
        Some(admin),
        "/api/v1/users",
        json!({"username": name, "role": "operations_engineer", "password": password}),
    )
    .await?;
    let login = post(node, None, "/api/v1/auth/login", json!({"username": name, "password": password})).await?;
    let token = login["token"].as_str().context("login token")?.to_owned();
    let enrol = post(node, Some(&token), "/api/v1/auth/totp/enroll", json!({})).await?;
    let secret = data_encoding::BASE32_NOPAD.decode(enrol["secret"].as_str().context("secret")?.as_bytes())?;
    let code = rampart_auth::totp::code_at(&secret, unix_now())?;
    post(node, Some(&token), "/api/v1/auth/totp/confirm", json!({"code": secrecy::ExposeSecret::expose_secret(&code)}))
        .await?;
    // The enrolment token ends with the enrolment: log in again, with the
    // next step's code (the confirming one is spent).
    let next = rampart_auth::totp::code_at(&secret, unix_now() + 30)?;
    let login = post(
        node,
        None,
        "/api/v1/auth/login",
        json!({"username": name, "password": password, "totp_code": secrecy::ExposeSecret::expose_secret(&next)}),
    )
    .await?;
    let token = login["token"].as_str().context("login token after enrolment")?.to_owned();
    let key = dir.join(format!("{name}_key"));
    let public = keygen(&key)?;
    post(node, Some(&token), "/api/v1/ssh-keys", json!({"public_key": public})).await?;
    let actions = ["shell", "exec", "sftp-read", "sftp-write"];
    post(
        node,
        Some(admin),
        "/api/v1/bastion/grants",
        json!({"username": name, "target": "db", "actions": actions, "valid_for_secs": 86_400}),
    )
    .await?;
    Ok(User { name, key, secret })
}

/// Waits until `step` has begun, so a code of it is accepted.
async fn wait_for_step(step: u64) {
    while unix_now() / 30 < step {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn bench(binary: &Path, args: &BastionArgs) -> Result<()> {
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let askpass = dir.join("askpass.sh");
    std::fs::write(&askpass, "#!/bin/sh\necho \"$BENCH_TOTP\"\n")?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700))?;
    }
    let login_key = dir.join("target_login_key");
    let endpoints = endpoint_cpus(args)?;
    let sshd = Sshd::start(dir, &keygen(&login_key)?, args.sessions, endpoints.as_deref())?;
    let bastion_port = free_port()?;
    let options = NodeOptions {
        env: vec![("RAMPART_BASTION__LISTEN".into(), format!("127.0.0.1:{bastion_port}").into())],
        ..NodeOptions::default()
    };
    let (node, _) = Node::start_with(binary, dir, &options).await?;
    if args.pin {
        // Every thread the node has now; threads it starts later inherit it.
        let bastion_cpu = cpu_split()?.0;
        checked(
            Command::new("taskset").args(["-a", "-p", "-c", &bastion_cpu, &node.pid().to_string()]).output()?,
            "pinning the node",
        )?;
    }
    let admin = node.admin_token().await?;
    post(
        &node,
        Some(&admin),
        "/api/v1/bastion/targets",
        json!({"name": "db", "address": "127.0.0.1", "port": sshd.port, "host_key": sshd.host_key,
               "login": sshd.login, "private_key": std::fs::read_to_string(&login_key)?}),
    )
    .await?;
    // User 0 holds the master connection; then one user per exec login and
    // one per shell login (a TOTP code works once per user and step).
    let pb = bar(2 * args.logins + 1, "users");
    let mut users = Vec::new();
    for i in 0..=2 * args.logins {
        users.push(make_user(&node, &admin, dir, i).await?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    // Each user's last login spent the step after the one it was made in;
    // SSH logins use the current step's code, so wait for the one after.
    wait_for_step(unix_now() / 30 + 2).await;

    // Throughput: scp up and down, direct and through the bastion.
    let file = dir.join("payload.bin");
    write_file(&file, args.mib)?;
    let sum = sha256_file(&file)?;
    let remote = dir.join("remote");
    std::fs::create_dir_all(&remote)?;
    let first = &users[0];
    let ctl = dir.join("ctl-bench");
    checked(
        via_bastion("ssh", dir, first, "-p", bastion_port, args)?
            .args(["-M", "-S", &ctl.display().to_string(), "-o", "ControlPersist=yes", "-f", "-N"])
            .arg(format!("{}:db@127.0.0.1", first.name))
            .output()?,
        "the bastion master connection",
    )?;
    let over_master = |program: &str| {
        let mut cmd = pinned(program, endpoints.as_deref());
        cmd.args(common(dir, &first.key, args.ciphers.as_deref()))
            .args(["-o", &format!("ControlPath={}", ctl.display()), "-o", "ControlMaster=no"])
            .args(["-o", &format!("User={}:db", first.name)])
            .stdin(Stdio::null());
        cmd
    };
    let direct = |program: &str| {
        let mut cmd = pinned(program, endpoints.as_deref());
        let port_flag = if program == "scp" { "-P" } else { "-p" };
        cmd.args(common(dir, &login_key, args.ciphers.as_deref()))
            .args([port_flag, &sshd.port.to_string(), "-o", &format!("User={}", sshd.login)])
            .stdin(Stdio::null());
        cmd
    };
    let bytes = (args.mib as f64) * 1024.0 * 1024.0;
    let runs = args.runs.max(1);
    let mut rates = Vec::new();
    // The node's CPU per byte relayed, over every bastion copy.
    let (mut node_cpu, mut relayed) = (0.0, 0.0);
    let pb = bar(4 * runs, "scp");
    // Paths alternate run by run, so a slow spell of the machine falls on both.
    let mut samples: [[Vec<f64>; 2]; 2] = Default::default();
    for _ in 0..runs {
        for (path, through) in [false, true].into_iter().enumerate() {
            let how = if through { "bastion" } else { "direct" };
            let there = remote.join(format!("{how}.bin"));
            let back = dir.join(format!("{how}-back.bin"));
            let target = format!("127.0.0.1:{}", there.display());
            let mut scp = |from: &str, to: &str| -> Result<f64> {
                let mut cmd = if through { over_master("scp") } else { direct("scp") };
                let pid = node.pid().to_string();
                let cpu = cpu_secs(&pid);
                let started = Instant::now();
                checked(cmd.args(["-q", from, to]).output()?, "scp")?;
                let took = started.elapsed().as_secs_f64();
                if through {
                    node_cpu += cpu_secs(&pid) - cpu;
                    relayed += bytes;
                }
                pb.inc(1);
                Ok(bytes / took / 1e6)
            };
            let up = scp(&file.display().to_string(), &target)?;
            let down = scp(&target, &back.display().to_string())?;
            if sha256_file(&there)? != sum || sha256_file(&back)? != sum {
                bail!("the {how} copy did not arrive intact");
            }
            let _ = std::fs::remove_file(&there);
            let _ = std::fs::remove_file(&back);
            samples[path][0].push(up);
            samples[path][1].push(down);
        }
    }
    for (path, how) in ["direct", "bastion"].into_iter().enumerate() {
        let mid = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (up, down) = (mid(&mut samples[path][0]), mid(&mut samples[path][1]));
        rates.push((how, up, down));
    }
    pb.finish_and_clear();
    let _ = std::fs::remove_file(&file);

    // Time to a first command's output on a fresh connection.
    let pb = bar(args.logins * 4, "logins");
    let (mut through, mut straight) = (Vec::new(), Vec::new());
    for user in &users[1..=args.logins] {
        let started = Instant::now();
        let out = checked(
            via_bastion("ssh", dir, user, "-p", bastion_port, args)?
                .args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
                .arg(format!("{}:db@127.0.0.1", user.name))
                .arg("echo ready")
                .output()?,
            "ssh through the bastion",
        )?;
        through.push(started.elapsed());
        if !String::from_utf8_lossy(&out.stdout).contains("ready") {
            bail!("no output through the bastion");
        }
        pb.inc(1);
        let started = Instant::now();
        checked(direct("ssh").args(["127.0.0.1", "echo ready"]).output()?, "ssh direct")?;
        straight.push(started.elapsed());
        pb.inc(1);
    }
    // Time to an interactive shell's prompt on a fresh connection.
    let (mut shell_through, mut shell_straight) = (Vec::new(), Vec::new());
    for user in &users[args.logins + 1..] {
        let mut cmd = via_bastion("ssh", dir, user, "-p", bastion_port, args)?;
        cmd.args(["-tt", "-o", "ControlMaster=no", "-o", "ControlPath=none"])
            .arg(format!("{}:db@127.0.0.1", user.name));
        shell_through.push(time_to_prompt(cmd).context("a shell through the bastion")?);
        pb.inc(1);
        let mut cmd = direct("ssh");
        cmd.args(["-tt", "127.0.0.1"]);
        shell_straight.push(time_to_prompt(cmd).context("a shell direct")?);
        pb.inc(1);
    }
    pb.finish_and_clear();

    // Idle sessions on the master connection.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = node.rss_mb()?;
    let pb = bar(args.sessions, "sessions");
    let mut idle: Vec<Child> = Vec::new();
    for _ in 0..args.sessions {
        idle.push(over_master("ssh").args(["x", "sleep 900"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let deadline = Instant::now() + Duration::from_secs(120);
    let live = loop {
        let list: Value = node
            .client
            .get(format!("{}/api/v1/bastion/sessions?live=true&limit=1000", node.url))
            .bearer_auth(&admin)
            .send()
            .await?
            .json()
            .await?;
        let live = list.as_array().map_or(0, Vec::len);
        if live >= args.sessions || Instant::now() > deadline {
            break live;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_sessions = node.rss_mb()?;
    for mut c in idle {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = over_master("ssh").args(["-O", "exit", "x"]).output();
    node.stop();
    drop(sshd);

    println!("bastion benchmark (this machine; OpenSSH on both sides, sshd as the target)");
    if args.pin {
        let (bastion_cpu, endpoint_cpus) = cpu_split()?;
        println!("pinned: the bastion node on CPU {bastion_cpu}; OpenSSH clients and sshd on CPU {endpoint_cpus}");
    } else {
        println!("not pinned: the bastion node, OpenSSH clients and sshd share every CPU");
    }
    println!(
        "scp of {} MiB, MB/s, median of {runs} each way (client ciphers: {}):",
        args.mib,
        args.ciphers.as_deref().unwrap_or("OpenSSH's default order")
    );
    println!("  {:<8} {:>8} {:>8}", "", "up", "down");
    for (how, up, down) in &rates {
        println!("  {how:<8} {up:>8.1} {down:>8.1}");
    }
    let (_, d_up, d_down) = rates[0];
    let (_, b_up, b_down) = rates[1];
    println!(
        "  bastion / direct: up {:.0} %, down {:.0} % (target >= 85 %)",
        100.0 * b_up / d_up,
        100.0 * b_down / d_down
    );
    println!(
        "  bastion node CPU while relaying: {:.2} ns per byte ({:.2} CPU-seconds for {:.0} MiB)",
        node_cpu / relayed * 1e9,
        node_cpu,
        relayed / 1024.0 / 1024.0
    );
    print_overhead("fresh connection to first output ('echo ready')", through, straight);
    print_overhead("fresh connection to an interactive shell's prompt ('ssh -tt')", shell_through, shell_straight);
    println!(
        "idle sessions: {live} live of {} asked; bastion RSS {:.0} MB before, {:.0} MB with them \
         ({:.2} MB per session; target: {} sessions in <= 500 MB)",
        args.sessions,
        rss_before,
        rss_sessions,
        (rss_sessions - rss_before) / live.max(1) as f64,
        args.sessions
    );
    Ok(())
}
