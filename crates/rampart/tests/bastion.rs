//! The SSH bastion with real OpenSSH on both sides, no mocks: Debian's
//! `sshd` on a free loopback port is the target (its own config and host
//! key in a temp dir), and the real `ssh`, `sftp` and `scp` clients log in
//! through Rampart (`ssh -p PORT 'USER:TARGET@127.0.0.1'`) with a
//! registered key and a TOTP code from `oathtool`. The targets, keys and
//! grants are set up with the `rampart` CLI.
//!
//! One client connection per login (OpenSSH's ControlMaster) carries the
//! exec, interactive shell, sftp and scp sessions, because each TOTP code
//! works once and a user gets a fresh one only every 30 seconds.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/openssh.rs"]
mod openssh;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openssh::*;
use rampart_core::Role;
use rampart_testkit::{LogCapture, Session, TestServer, skip_without, unix_now};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_openssh_clients_reach_a_real_sshd_only_through_grants_recorded_and_audited() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&["sftp", "scp", "script"]) else { return };
    // Every log line of the whole flow, TRACE level, russh's included.
    let logs = LogCapture::install();

    let server = TestServer::start().await;
    let bastion = server.running.as_ref().unwrap().bastion.as_ref().expect("the bastion listens").addr;
    let admin = server.admin_session().await;
    // Read after the login: had a step begun during it, the login took
    // that step's code, and the next one is still within the skew.
    let admin_step = unix_now() / 30;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let bob_step = unix_now() / 30 + 1;
    let ca = server.data_dir().join("tls/ca.pem");
    let cfg = dir.join("cli");
    let url = server.url.clone();
    let cli = |token: &str, args: &[&str]| rampart(&url, &ca, token, &cfg, args);

    // Keys for the admin and bob; a target whose credential is the login key.
    let admin_key = dir.join("admin_key");
    keygen(&admin_key);
    let bob_key = dir.join("bob_key");
    keygen(&bob_key);
    ok(&cli(&admin.token, &["ssh-key", "add", admin_key.with_extension("pub").to_str().unwrap()]), "admin ssh-key add");
    ok(&cli(&bob.token, &["ssh-key", "add", bob_key.with_extension("pub").to_str().unwrap()]), "bob ssh-key add");
    let listed = cli(&bob.token, &["--json", "ssh-key", "list"]);
    ok(&listed, "ssh-key list");
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap()["items"].as_array().map(Vec::len), Some(1));
    let port = sshd.port.to_string();
    let created = cli(
        &admin.token,
        &[
            "--json",
            "target",
            "create",
            "db",
            "--address",
            "127.0.0.1",
            "--port",
            &port,
            "--host-key",
            &sshd.host_key,
            "--login",
            &sshd.login,
            "--private-key-file",
            login_key.to_str().unwrap(),
        ],
    );
    ok(&created, "target create");
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(created["credential_kind"], "private_key");
    let private = std::fs::read_to_string(&login_key).unwrap();
    let listing = cli(&admin.token, &["--json", "target", "list"]);
    assert!(!String::from_utf8_lossy(&listing.stdout).contains(private.lines().nth(1).unwrap()), "never shown");
    // The same sshd registered with another pinned host key, as if it had been replaced.
    let other_key = keygen(&dir.join("other_host_key"));
    let moved = cli(
        &admin.token,
        &[
            "target",
            "create",
            "moved",
            "--address",
            "127.0.0.1",
            "--port",
            &port,
            "--host-key",
            &other_key,
            "--login",
            &sshd.login,
            "--private-key-file",
            login_key.to_str().unwrap(),
        ],
    );
    ok(&moved, "target create moved");
    ok(
        &cli(
            &admin.token,
            &["grant", "create", "--user", "admin", "--target", "db", "--actions", "shell,exec,sftp-read,sftp-write"],
        ),
        "grant",
    );
    ok(
        &cli(&admin.token, &["grant", "create", "--user", "admin", "--target", "moved", "--actions", "exec"]),
        "grant moved",
    );
    // bob may only exec on db's twin, and has no grant on db at all.
    assert!(!cli(&bob.token, &["target", "list"]).status.success(), "targets are for administrators");

    let admin_secret = data_encoding::BASE32_NOPAD.encode(admin.creds.totp_secret.as_deref().unwrap());
    let bob_secret = data_encoding::BASE32_NOPAD.encode(bob.creds.totp_secret.as_deref().unwrap());
    // What must never reach a log line: the target's private key, the TOTP
    // secrets, and the codes typed at the bastion's prompt.
    let mut secrets: Vec<(String, String)> = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| ("the target's private key".to_owned(), l.to_owned()))
        .collect();
    secrets.push(("admin TOTP secret".into(), admin_secret.clone()));
    secrets.push(("bob TOTP secret".into(), bob_secret.clone()));
    for step in [admin_step + 1, admin_step + 2] {
        let code = rampart_auth::totp::code_at(admin.creds.totp_secret.as_deref().unwrap(), step * 30).unwrap();
        secrets.push((format!("admin code {step}"), secrecy::ExposeSecret::expose_secret(&code).to_owned()));
    }
    let code = rampart_auth::totp::code_at(bob.creds.totp_secret.as_deref().unwrap(), (bob_step + 1) * 30).unwrap();
    secrets.push(("bob code".into(), secrecy::ExposeSecret::expose_secret(&code).to_owned()));
    let as_admin = Client { dir: dir.clone(), bastion, key: admin_key.clone(), totp_secret: admin_secret };
    let as_bob = Client { dir: dir.clone(), bastion, key: bob_key.clone(), totp_secret: bob_secret };
    let data_dir = server.data_dir();
    let upload = dir.join("upload.bin");
    let remote_dir = dir.join("remote");
    std::fs::create_dir_all(&remote_dir).unwrap();

    let admin_after = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let data_dir_for_thread = data_dir.clone();
        let remote_dir = remote_dir.clone();
        move || {
            // A wrong code is refused (and counts towards the lockout).
            let wrong = as_admin.ssh(None, &["admin:db@127.0.0.1", "true"]).output().unwrap();
            assert!(!wrong.status.success(), "a wrong TOTP code must not log in: {}", text(&wrong));

            // The real login: key, then the code oathtool computes.
            let step = admin_step + 1;
            let master = as_admin.master("admin", "admin:db", step);
            ok(&master, "ssh master admin:db");

            // exec: the command runs on the target and its output comes back.
            let out = as_admin.over("admin", &["x", "echo through-$((6*7)); hostname >/dev/null"]).output().unwrap();
            ok(&out, "exec");
            assert!(String::from_utf8_lossy(&out.stdout).contains("through-42"), "{}", text(&out));

            // An interactive shell under a pty (script gives ssh a terminal).
            let mut shell = as_admin.interactive("admin");
            {
                let mut stdin = shell.stdin.take().unwrap();
                std::thread::sleep(Duration::from_millis(1500));
                stdin.write_all(b"echo interactive-$((7*6))\n").unwrap();
                std::thread::sleep(Duration::from_millis(500));
                stdin.write_all(b"exit\n").unwrap();
                std::thread::sleep(Duration::from_millis(500));
            }
            let out = shell.wait_with_output().unwrap();
            assert!(String::from_utf8_lossy(&out.stdout).contains("interactive-42"), "shell: {}", text(&out));

            // Window changes reach the target's pty: tmux resizes the
            // terminal ssh runs in, and the shell on the target sees it.
            if have("tmux") {
                let sock = format!("rampart-test-{}", std::process::id());
                let tmux = |args: &[&str]| Command::new("tmux").args(["-L", &sock]).args(args).output().unwrap();
                let ssh_cmd = format!(
                    "ssh {} -S {} -o ControlMaster=no -tt x",
                    as_admin.common().join(" "),
                    as_admin.control("admin").display()
                );
                ok(&tmux(&["new-session", "-d", "-s", "t", "-x", "100", "-y", "30", &ssh_cmd]), "tmux new-session");
                std::thread::sleep(Duration::from_millis(1500));
                ok(&tmux(&["resize-window", "-t", "t", "-x", "120", "-y", "40"]), "tmux resize-window");
                std::thread::sleep(Duration::from_millis(500));
                ok(&tmux(&["send-keys", "-t", "t", "echo size-is-$(stty size | tr ' ' x)", "Enter"]), "send-keys");
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut screen = String::new();
                while Instant::now() < deadline && !screen.contains("size-is-40x120") {
                    std::thread::sleep(Duration::from_millis(200));
                    screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned();
                }
                let _ = tmux(&["send-keys", "-t", "t", "exit", "Enter"]);
                std::thread::sleep(Duration::from_millis(500));
                let _ = tmux(&["kill-server"]);
                assert!(screen.contains("size-is-40x120"), "the target's pty was resized: {screen}");
            }

            // sftp: a listing of a directory on the target.
            std::fs::write(remote_dir.join("listed-file.txt"), b"hello").unwrap();
            let batch = dir.join("sftp.batch");
            std::fs::write(&batch, format!("ls {}\n", remote_dir.display())).unwrap();
            let out = Command::new("sftp")
                .args(as_admin.common())
                .args(["-o", &format!("ControlPath={}", as_admin.control("admin").display()), "-o", "ControlMaster=no"])
                .args(["-o", "User=admin:db", "-b"])
                .arg(&batch)
                .arg("127.0.0.1")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            ok(&out, "sftp ls");
            assert!(String::from_utf8_lossy(&out.stdout).contains("listed-file.txt"), "{}", text(&out));

            // scp both ways, with the hashes compared.
            let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
            std::fs::write(&upload, &bytes).unwrap();
            let scp = |from: &str, to: &str| {
                Command::new("scp")
                    .args(as_admin.common())
                    .args([
                        "-o",
                        &format!("ControlPath={}", as_admin.control("admin").display()),
                        "-o",
                        "ControlMaster=no",
                    ])
                    .args(["-o", "User=admin:db", "-q", from, to])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap()
            };
            let there = remote_dir.join("uploaded.bin");
            ok(&scp(upload.to_str().unwrap(), &format!("127.0.0.1:{}", there.display())), "scp up");
            assert_eq!(sha256(&there), sha256(&upload), "the upload arrives intact");
            let back = dir.join("back.bin");
            ok(&scp(&format!("127.0.0.1:{}", there.display()), back.to_str().unwrap()), "scp down");
            assert_eq!(sha256(&back), sha256(&upload), "the download arrives intact");

            // Local port forwarding is refused by the bastion (sshd would allow it).
            let lport = free_port();
            let fwd = as_admin
                .over("admin", &["-O", "forward", "-L", &format!("{lport}:127.0.0.1:{}", sshd.port), "x"])
                .output()
                .unwrap();
            ok(&fwd, "mux forward request");
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", lport)) {
                use std::io::Read;
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).unwrap_or(0);
                assert!(!String::from_utf8_lossy(&buf[..n]).contains("SSH-2.0"), "no tunnel to the target's sshd");
            }
            // No recording, no session: with the recordings directory
            // replaced by a file, a new session is refused, not run unrecorded.
            let recordings = data_dir_for_thread.join("recordings");
            std::fs::rename(&recordings, dir.join("recordings-aside")).unwrap();
            std::fs::write(&recordings, b"not a directory").unwrap();
            let out = as_admin.over("admin", &["x", "echo unrecorded-$((5*5))"]).output().unwrap();
            assert!(!out.status.success(), "a session that cannot be recorded is refused");
            assert!(!String::from_utf8_lossy(&out.stdout).contains("unrecorded-25"), "{}", text(&out));
            std::fs::remove_file(&recordings).unwrap();
            std::fs::rename(dir.join("recordings-aside"), &recordings).unwrap();
            as_admin.close("admin");

            // A changed host key is refused, before any credential is sent.
            let step = next_step(step);
            let moved = as_admin.ssh(Some(step), &["admin:moved@127.0.0.1", "true"]).output().unwrap();
            assert!(!moved.status.success());
            assert!(text(&moved).contains("does not match the pinned key"), "{}", text(&moved));
            (sshd, step)
        }
    })
    .await
    .unwrap();
    let (_sshd, _) = admin_after;

    // bob has a key and a second factor, but no grant: refused.
    let bob_out = tokio::task::spawn_blocking(move || {
        let step = next_step(bob_step);
        as_bob.ssh(Some(step), &["bob:db@127.0.0.1", "true"]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(!bob_out.status.success());
    assert!(text(&bob_out).contains("bob has no grant on db"), "{}", text(&bob_out));

    // The ledger holds every start, end and refusal.
    let started = events(&server, &admin, "bastion.session.started").await;
    let actions: Vec<&str> = started.iter().filter_map(|e| e["attrs"]["action"].as_str()).collect();
    for a in ["exec", "shell", "sftp"] {
        assert!(actions.contains(&a), "a {a} session start is recorded: {actions:?}");
    }
    let ended = events(&server, &admin, "bastion.session.ended").await;
    let shell_end = ended
        .iter()
        .find(|e| {
            let s = e["attrs"]["session"].as_str().unwrap_or_default();
            started.iter().any(|b| b["attrs"]["session"] == s && b["attrs"]["action"] == "shell")
        })
        .expect("the shell session's end is recorded");
    let on_disk = PathBuf::from(shell_end["attrs"]["recording"].as_str().unwrap());
    assert!(on_disk.starts_with(data_dir.join("recordings")), "{}", on_disk.display());
    // Encrypted at rest: nothing typed or shown is in the file in plaintext.
    let raw = std::fs::read(&on_disk).unwrap();
    assert!(raw.starts_with(b"RPTREC\r\n"), "the recording is in the encrypted format");
    for marker in [&b"interactive-"[..], b"echo", b"version"] {
        assert!(!raw.windows(marker.len()).any(|w| w == marker), "{} is not on disk", String::from_utf8_lossy(marker));
    }
    // The node decrypts it for download; the ledger's hash and size are the
    // plaintext's, so the customer checks what they play.
    let shell_id = shell_end["attrs"]["session"].as_str().unwrap();
    let plain = downloaded(&server, &admin, shell_id).await;
    assert_eq!(shell_end["attrs"]["recording_sha256"].as_str(), Some(sha256_of(&plain).as_str()), "the ledger hash");
    assert_eq!(shell_end["attrs"]["recording_bytes"].as_u64(), Some(plain.len() as u64));
    let recording = dir.join("shell.cast");
    std::fs::write(&recording, &plain).unwrap();
    let cast = String::from_utf8(plain).unwrap();
    let mut lines = cast.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert!(cast.contains("\"i\"") && cast.contains("\"o\""), "input and output are recorded");
    assert!(cast.contains("interactive-42"), "the shell's output is in the recording");
    // The real asciinema player reads it: the typed command and its output
    // (under `script`, since asciinema 2 insists on a terminal).
    if have("asciinema") {
        let played = Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!("asciinema cat {}", recording.display()))
            .arg("/dev/null")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        ok(&played, "asciinema cat");
        let shown = String::from_utf8_lossy(&played.stdout);
        assert!(shown.contains("echo interactive-$((7*6))"), "the typed command plays back: {shown}");
        assert!(shown.contains("interactive-42"), "its output plays back: {shown}");
    } else {
        skip_without("asciinema is missing; the recording was not played", "apt-get install asciinema");
    }
    if have("tmux") {
        let mut resized = false;
        for id in
            ended.iter().filter(|e| e["attrs"]["recording"].is_string()).filter_map(|e| e["attrs"]["session"].as_str())
        {
            let c = String::from_utf8(downloaded(&server, &admin, id).await).unwrap_or_default();
            resized |= c.contains("\"r\", \"120x40\"") && c.contains("size-is-40x120");
        }
        assert!(resized, "a recording holds the resize event and the resized shell's output");
    }
    for line in lines {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(event.as_array().is_some_and(|a| a.len() == 3), "{line}");
    }

    let refused = events(&server, &admin, "bastion.session.refused").await;
    let reasons: Vec<&str> = refused.iter().filter_map(|e| e["attrs"]["reason"].as_str()).collect();
    assert!(reasons.contains(&"host_key_mismatch"), "{reasons:?}");
    assert!(reasons.contains(&"no_grant"), "{reasons:?}");
    assert!(reasons.contains(&"recording_failed"), "{reasons:?}");
    let forwarding = events(&server, &admin, "bastion.forwarding.refused").await;
    assert!(forwarding.iter().any(|e| e["attrs"]["kind"] == "local"), "{forwarding:?}");
    let failed = events(&server, &admin, "auth.login.failed").await;
    assert!(failed.iter().any(|e| e["actor"] == "admin" && e["attrs"]["reason"] == "bad_totp_code"), "{failed:?}");
    let logins = events(&server, &admin, "bastion.login.succeeded").await;
    assert!(logins.iter().any(|e| e["actor"] == "admin" && e["attrs"]["second_factor"] == "totp"), "{logins:?}");

    // The CLI takes back what it gave: a grant, a key, a target.
    let grants = cli(&admin.token, &["--json", "grant", "list"]);
    ok(&grants, "grant list");
    let grants: Value = serde_json::from_slice(&grants.stdout).unwrap();
    assert_eq!(grants["items"].as_array().map(Vec::len), Some(2));
    let id = grants["items"][0]["id"].as_str().unwrap().to_owned();
    ok(&cli(&admin.token, &["grant", "revoke", &id]), "grant revoke");
    assert_eq!(cli(&admin.token, &["grant", "revoke", &id]).status.code(), Some(4), "revoked once");
    let keys: Value = serde_json::from_slice(&cli(&bob.token, &["--json", "ssh-key", "list"]).stdout).unwrap();
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(cli(&admin.token, &["ssh-key", "remove", &key_id]).status.code(), Some(4), "not the admin's key");
    ok(&cli(&bob.token, &["ssh-key", "remove", &key_id]), "ssh-key remove");
    ok(&cli(&admin.token, &["target", "delete", "moved"]), "target delete");
    let targets: Value = serde_json::from_slice(&cli(&admin.token, &["--json", "target", "list"]).stdout).unwrap();
    assert_eq!(targets["items"].as_array().map(Vec::len), Some(1));

    // No credential of the target ever reached the ledger.
    let all: Value = server
        .request(reqwest::Method::GET, "/api/v1/audit/events?limit=500", Some(&admin.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!all.to_string().contains(private.lines().nth(1).unwrap()));
    server.stop().await;

    let captured = logs.contents();
    assert!(captured.contains("bastion.session.started"), "the capture holds this flow's audit lines");
    for (what, secret) in &secrets {
        assert!(!occurs(&captured, secret), "{what} appears in the logs");
    }
}

/// Bad or hostile input to the bastion's API gets a clear 4xx and changes
/// nothing; the resources are for the roles that hold their permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bastion_api_refuses_bad_input_and_wrong_roles() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let ops = server.session_for(&admin, "opsie", Role::OperationsEngineer, None).await;
    let tenant = server.create_tenant(&admin, "custco").await;
    let cust = server.session_for(&admin, "custie", Role::CustomerAdmin, Some(&tenant)).await;
    let post = |token: String, path: &'static str, body: Value| {
        let req = server.request(reqwest::Method::POST, path, Some(&token)).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
    };
    let work = tempfile::tempdir().unwrap();
    let host = keygen(&work.path().join("host"));
    let login = work.path().join("login");
    keygen(&login);
    let private = std::fs::read_to_string(&login).unwrap();
    let target = |name: &str| {
        serde_json::json!({ "name": name, "address": "127.0.0.1", "port": 22, "host_key": host, "login": "ops",
            "private_key": private })
    };

    // SSH keys: RSA, garbage and a second registration are refused.
    let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user";
    let (s, body) = post(ops.token.clone(), "/api/v1/ssh-keys", serde_json::json!({ "public_key": rsa })).await;
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("unsupported key algorithm"), "{body}");
    let (s, _) = post(ops.token.clone(), "/api/v1/ssh-keys", serde_json::json!({ "public_key": "\u{0}\u{1}" })).await;
    assert_eq!(s, 422);
    let (s, _) = post(ops.token.clone(), "/api/v1/ssh-keys", serde_json::json!({ "public_key": host })).await;
    assert_eq!(s, 201);
    let (s, _) = post(admin.token.clone(), "/api/v1/ssh-keys", serde_json::json!({ "public_key": host })).await;
    assert_eq!(s, 409, "one key, one user");
    let (s, _) = post(cust.token.clone(), "/api/v1/ssh-keys", serde_json::json!({ "public_key": host })).await;
    assert_eq!(s, 403, "customers do not use the bastion");

    // Targets: only the administrator; every field checked.
    let (s, _) = post(ops.token.clone(), "/api/v1/bastion/targets", target("db")).await;
    assert_eq!(s, 403);
    for (field, value) in [
        ("name", serde_json::json!("Bad Name")),
        ("name", serde_json::json!("a:b")),
        ("address", serde_json::json!("10.0.0.1; rm -rf /")),
        ("port", serde_json::json!(0)),
        ("host_key", serde_json::json!("ssh-ed25519 notbase64")),
        ("login", serde_json::json!("root\nx")),
        ("private_key", serde_json::json!("-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n")),
    ] {
        let mut body = target("db");
        body[field] = value;
        let (s, text) = post(admin.token.clone(), "/api/v1/bastion/targets", body).await;
        assert_eq!(s, 422, "{field}: {text}");
        assert!(!text.contains(private.lines().nth(1).unwrap()), "no credential in errors");
    }
    let mut both = target("db");
    both["password"] = serde_json::json!("hunter2");
    assert_eq!(post(admin.token.clone(), "/api/v1/bastion/targets", both).await.0, 422);
    let mut unknown = target("db");
    unknown["extra"] = serde_json::json!(1);
    assert_eq!(post(admin.token.clone(), "/api/v1/bastion/targets", unknown).await.0, 422, "unknown fields");
    let (s, text) = post(admin.token.clone(), "/api/v1/bastion/targets", target("db")).await;
    assert_eq!(s, 201, "{text}");
    assert!(!text.contains(private.lines().nth(1).unwrap()), "the credential is never returned");
    assert_eq!(post(admin.token.clone(), "/api/v1/bastion/targets", target("db")).await.0, 409);

    // Grants: known user and target, at least one action, a bounded window.
    let grant = |user: &str, target: &str, actions: Value, secs: u64| serde_json::json!({ "username": user, "target": target, "actions": actions, "valid_for_secs": secs });
    for bad in [
        grant("nobody", "db", serde_json::json!(["shell"]), 60),
        grant("opsie", "nope", serde_json::json!(["shell"]), 60),
        grant("opsie", "db", serde_json::json!([]), 60),
        grant("opsie", "db", serde_json::json!(["shell"]), 0),
        grant("opsie", "db", serde_json::json!(["shell"]), 91 * 24 * 3600),
        {
            let mut other_login = grant("opsie", "db", serde_json::json!(["shell"]), 60);
            other_login["login"] = serde_json::json!("root");
            other_login
        },
    ] {
        let (s, text) = post(admin.token.clone(), "/api/v1/bastion/grants", bad.clone()).await;
        assert_eq!(s, 422, "{bad}: {text}");
    }
    let (s, _) =
        post(admin.token.clone(), "/api/v1/bastion/grants", grant("opsie", "db", serde_json::json!(["root"]), 60))
            .await;
    assert_eq!(s, 422, "an unknown action is a bad request body");
    let (s, text) =
        post(admin.token.clone(), "/api/v1/bastion/grants", grant("opsie", "db", serde_json::json!(["exec"]), 60))
            .await;
    assert_eq!(s, 201, "{text}");

    // Garbage instead of SSH, and a connection dropped mid-handshake, do
    // not take the listener down.
    let bastion = server.running.as_ref().unwrap().bastion.as_ref().unwrap().addr;
    for junk in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0xff; 70_000][..], b"SSH-2.0-x\r\n\0\0\0\x05\x14garbage"] {
        if let Ok(mut s) = TcpStream::connect(bastion) {
            let _ = s.write_all(junk);
        }
    }
    // A login without a target is told how to log in, by the real client.
    if have("ssh") {
        let client = Client { dir: work.path().to_path_buf(), bastion, key: login.clone(), totp_secret: String::new() };
        let out = tokio::task::spawn_blocking(move || {
            client.ssh(None, &["admin:Not/A-Target@127.0.0.1", "true"]).output().unwrap()
        })
        .await
        .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success());
        assert!(said.contains("Log in as USER or USER:TARGET"), "{said}");
    }
    server.stop().await;
}

/// Sync mode: a session whose recording stops being writable mid-way is
/// cut, and the ledger says so. The recording is capped at a few KiB and
/// the command on the target prints far more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_recording_fails_mid_way_is_cut() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&["ssh-agent"]) else { return };
    let server = TestServer::start_with(|c| c.bastion.recording_max_bytes = 8192).await;
    let bastion = server.running.as_ref().unwrap().bastion.as_ref().unwrap().addr;
    let admin = server.admin_session().await;
    let step = unix_now() / 30;
    let post =
        |path: &str, body: Value| server.request(reqwest::Method::POST, path, Some(&admin.token)).json(&body).send();
    let client = bastion_client(&server, &admin, &dir, bastion).await;
    let target = serde_json::json!({ "name": "db", "address": "127.0.0.1", "port": sshd.port, "host_key": sshd.host_key,
        "login": sshd.login, "private_key": std::fs::read_to_string(&login_key).unwrap() });
    assert_eq!(post("/api/v1/bastion/targets", target).await.unwrap().status(), 201);
    let grant = serde_json::json!({ "username": "admin", "target": "db", "actions": ["exec"], "valid_for_secs": 600 });
    assert_eq!(post("/api/v1/bastion/grants", grant).await.unwrap().status(), 201);

    // An agent to forward, so that ssh -A really asks for it.
    let agent_sock = dir.join("agent.sock");
    let mut agent =
        Command::new("ssh-agent").arg("-D").arg("-a").arg(&agent_sock).stdout(Stdio::null()).spawn().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let cmd = "for i in $(seq 1 3000); do echo line-$i-of-a-long-output; done; echo finished-$((3*3))";
        let deadline = Instant::now() + Duration::from_secs(5);
        while !agent_sock.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Agent forwarding and a remote forward are asked for, and refused.
        client
            .ssh(Some(step + 1), &["-A", "-R", "0:127.0.0.1:9", "admin:db@127.0.0.1", cmd])
            .env("SSH_AUTH_SOCK", &agent_sock)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a cut session does not end well: {}", text(&out));
    assert!(!stdout.contains("finished-9"), "the session is cut before its end");
    assert!(text(&out).contains("the session recording failed; the session is cut"), "{}", text(&out));
    drop(sshd);

    let ended = events(&server, &admin, "bastion.session.ended").await;
    let forwarding = events(&server, &admin, "bastion.forwarding.refused").await;
    let reasons: Vec<&str> = forwarding.iter().filter_map(|e| e["attrs"]["reason"].as_str()).collect();
    assert!(reasons.contains(&"agent_forwarding_not_granted"), "{forwarding:?}");
    assert!(forwarding.iter().any(|e| e["attrs"]["kind"] == "remote"), "{forwarding:?}");
    let cut = ended.iter().find(|e| e["attrs"]["reason"] == "recording_failed").expect("the cut is in the ledger");
    assert_eq!(cut["outcome"], "failure");
    let recordings: Vec<_> = std::fs::read_dir(server.data_dir().join("recordings")).unwrap().flatten().collect();
    assert_eq!(recordings.len(), 1);
    assert!(recordings[0].metadata().unwrap().len() <= 8192, "the cap holds on disk");
    server.stop().await;
}

/// SFTP and scp through the bastion, file by file. A 50 MB file goes up and
/// comes back with the real `scp` (hashes compared), and each transfer is
/// a `bastion.file` event carrying that same SHA-256 and size; directory
/// changes, renames and removals are events with the target's answer. A
/// read-only grant lets bob download but refuses his upload and removal
/// before the target sees them (the file never appears, the other stays).
/// A `port-forward` grant opens a tunnel through the target that carries
/// its SSH banner, audited with byte counts; bob, without it, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transfers_are_audited_per_file_and_held_to_the_grant() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&["sftp", "scp"]) else { return };
    let server = TestServer::start().await;
    let (admin, client, admin_step, _) = admin_reaches_target(&server, &dir, &sshd, &login_key).await;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let bob_step = unix_now() / 30 + 1;
    let post = |token: &str, path: &str, body: Value| {
        server.request(reqwest::Method::POST, path, Some(token)).json(&body).send()
    };
    let as_bob = bastion_client(&server, &bob, &dir, client.bastion).await;
    for (user, actions) in [("admin", vec!["sftp-read", "sftp-write", "port-forward"]), ("bob", vec!["sftp-read"])] {
        let grant = serde_json::json!({ "username": user, "target": "db", "actions": actions, "valid_for_secs": 3600 });
        assert_eq!(post(&admin.token, "/api/v1/bastion/grants", grant).await.unwrap().status(), 201);
    }
    let remote = dir.join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    std::fs::write(remote.join("listed.txt"), b"for bob to read").unwrap();
    let big = dir.join("big.bin");
    let bytes: Vec<u8> = (0..50_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(&big, &bytes).unwrap();
    drop(bytes);
    let big_sha = sha256(&big);
    let sshd_port = sshd.port;

    tokio::task::spawn_blocking(move || {
        let via = |c: &Client, name: &str, user: &str| c.via_master(name, user);
        let scp = |c: &Client, from: &str, to: &str| {
            Command::new("scp")
                .args(via(c, "admin", "admin:db"))
                .args(["-q", from, to])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let sftp = |c: &Client, name: &str, user: &str, commands: &str| {
            let batch = c.dir.join(format!("batch-{name}"));
            std::fs::write(&batch, commands).unwrap();
            Command::new("sftp")
                .args(via(c, name, user))
                .arg("-b")
                .arg(&batch)
                .arg("127.0.0.1")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        ok(&client.master("admin", "admin:db", admin_step + 1), "ssh master admin");
        let there = remote.join("big.bin");
        let started = Instant::now();
        ok(&scp(&client, big.to_str().unwrap(), &format!("127.0.0.1:{}", there.display())), "scp 50 MB up");
        let up = started.elapsed();
        assert_eq!(sha256(&there), sha256(&big), "the upload arrives intact");
        let back = client.dir.join("big-back.bin");
        let started = Instant::now();
        ok(&scp(&client, &format!("127.0.0.1:{}", there.display()), back.to_str().unwrap()), "scp 50 MB down");
        let down = started.elapsed();
        assert_eq!(sha256(&back), sha256(&big), "the download arrives intact");
        eprintln!("scp of 50 MB through the bastion: up {up:?}, down {down:?}");
        let r = remote.display();
        let out = sftp(
            &client,
            "admin",
            "admin:db",
            &format!("mkdir {r}/made\nrename {r}/big.bin {r}/moved.bin\nrm {r}/moved.bin\n"),
        );
        ok(&out, "sftp mkdir, rename, rm");
        assert!(remote.join("made").is_dir() && !remote.join("moved.bin").exists());

        // A tunnel through the target to its own sshd: the banner comes back.
        let lport = free_port();
        let forward = format!("{lport}:127.0.0.1:{sshd_port}");
        ok(&client.over("admin", &["-O", "forward", "-L", &forward, "x"]).output().unwrap(), "mux forward");
        let banner = {
            use std::io::Read;
            let mut s = TcpStream::connect(("127.0.0.1", lport)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        assert!(banner.starts_with("SSH-2.0"), "the forwarded connection reaches the target's sshd: {banner:?}");
        client.close("admin");

        // bob may read only.
        ok(&as_bob.master("bob", "bob:db", next_step(bob_step)), "ssh master bob");
        let fetched = as_bob.dir.join("fetched.txt");
        ok(&sftp(&as_bob, "bob", "bob:db", &format!("get {r}/listed.txt {}\n", fetched.display())), "bob's get");
        assert_eq!(std::fs::read(&fetched).unwrap(), b"for bob to read");
        let put = sftp(&as_bob, "bob", "bob:db", &format!("put {} {r}/from-bob.bin\n", fetched.display()));
        assert!(!put.status.success(), "an upload without sftp-write fails: {}", text(&put));
        assert!(text(&put).contains("Permission denied"), "the client is told: {}", text(&put));
        assert!(!remote.join("from-bob.bin").exists(), "the target never saw the upload");
        let rm = sftp(&as_bob, "bob", "bob:db", &format!("rm {r}/listed.txt\n"));
        assert!(!rm.status.success(), "{}", text(&rm));
        assert!(remote.join("listed.txt").exists(), "the file bob tried to remove is still there");
        let lport = free_port();
        ok(
            &as_bob
                .over("bob", &["-O", "forward", "-L", &format!("{lport}:127.0.0.1:{sshd_port}"), "x"])
                .output()
                .unwrap(),
            "bob mux forward",
        );
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", lport)) {
            use std::io::Read;
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            assert!(!String::from_utf8_lossy(&buf[..n]).contains("SSH-2.0"), "no tunnel without port-forward");
        }
        as_bob.close("bob");
    })
    .await
    .unwrap();

    let files = events(&server, &admin, "bastion.file").await;
    let find = |actor: &str, op: &str, path_end: &str| {
        files
            .iter()
            .find(|e| {
                e["actor"] == actor
                    && e["attrs"]["op"] == op
                    && e["attrs"]["path"].as_str().is_some_and(|p| p.ends_with(path_end))
            })
            .unwrap_or_else(|| panic!("no {op} of {path_end} by {actor} in {files:#?}"))
    };
    for op in ["upload", "download"] {
        let e = find("admin", op, "/big.bin");
        assert_eq!(e["attrs"]["sha256"].as_str(), Some(big_sha.as_str()), "the ledger holds the file's hash: {e}");
        assert_eq!(e["attrs"]["bytes"].as_u64(), Some(50_000_000), "{e}");
        assert_eq!((e["outcome"].as_str(), e["attrs"]["result"].as_str()), (Some("success"), Some("done")));
    }
    assert_eq!(find("admin", "mkdir", "/made")["attrs"]["result"], "done");
    assert_eq!(
        find("admin", "rename", "/big.bin")["attrs"]["to"].as_str().map(|t| t.ends_with("/moved.bin")),
        Some(true)
    );
    assert_eq!(find("admin", "remove", "/moved.bin")["attrs"]["result"], "done");
    assert_eq!(find("bob", "download", "/listed.txt")["attrs"]["bytes"], 15);
    for (op, path) in [("upload", "/from-bob.bin"), ("remove", "/listed.txt")] {
        let e = find("bob", op, path);
        assert_eq!(
            (e["outcome"].as_str(), e["attrs"]["missing_grant"].as_str()),
            (Some("denied"), Some("sftp-write")),
            "{e}"
        );
    }
    let opened = events(&server, &admin, "bastion.forward.opened").await;
    assert!(opened.iter().any(|e| e["actor"] == "admin" && e["attrs"]["port"] == sshd_port), "{opened:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let closed = loop {
        let closed = events(&server, &admin, "bastion.forward.closed").await;
        if !closed.is_empty() || Instant::now() > deadline {
            break closed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(closed[0]["attrs"]["bytes_from_target"].as_u64().is_some_and(|n| n >= 7), "{closed:?}");
    let refused = events(&server, &admin, "bastion.forwarding.refused").await;
    assert!(
        refused.iter().any(|e| e["actor"] == "bob" && e["attrs"]["reason"] == "port_forwarding_not_granted"),
        "{refused:?}"
    );
    server.stop().await;
}

/// Legacy `scp -O` (the rcp protocol over `scp -t`/`scp -f` execs) through
/// the bastion with the real client and the real sshd. bob holds only
/// `sftp-read` and `sftp-write`: a 5 MiB random file goes up and comes back
/// and a small tree goes up with `-r`, each file a `bastion.file` event
/// whose SHA-256 and size are the file's, and no recording is made. A path
/// the target's shell would interpret (`x;touch MARKER`) is not scp but an
/// exec, which bob may not run: refused, and MARKER never appears. A red
/// line still decides on a recognised scp command line. The admin, who may
/// exec but holds no `sftp-write`, cannot upload with `scp -O`: a
/// recognised scp is held to the SFTP grants, not to `exec`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_scp_is_audited_per_file_and_held_to_the_sftp_grants() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&["scp"]) else { return };
    let red_lines = dir.join("red-lines.toml");
    std::fs::write(
        &red_lines,
        "[[policies]]\nid = \"no-secrets\"\naction = \"reject\"\nregex = ['^scp -t .*secret']\n",
    )
    .unwrap();
    let server = TestServer::start_with(move |c| c.bastion.red_lines = Some(red_lines)).await;
    let (admin, client, admin_step, _) = admin_reaches_target(&server, &dir, &sshd, &login_key).await;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let bob_step = unix_now() / 30 + 1;
    let post = |token: &str, path: &str, body: Value| {
        server.request(reqwest::Method::POST, path, Some(token)).json(&body).send()
    };
    let as_bob = bastion_client(&server, &bob, &dir, client.bastion).await;
    let grant = serde_json::json!({
        "username": "bob", "target": "db", "actions": ["sftp-read", "sftp-write"], "valid_for_secs": 3600
    });
    assert_eq!(post(&admin.token, "/api/v1/bastion/grants", grant).await.unwrap().status(), 201);
    let remote = dir.join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let payload = dir.join("payload.bin");
    let mut random = vec![0u8; 5 * 1024 * 1024 + 17];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut random).unwrap();
    }
    std::fs::write(&payload, &random).unwrap();
    let (payload_sha, payload_len) = (sha256_of(&random), random.len() as u64);
    drop(random);
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), b"first file\n").unwrap();
    std::fs::write(tree.join("sub/b.bin"), [0u8, 1, 2, 255].repeat(1000)).unwrap();
    let b_sha = sha256(&tree.join("sub/b.bin"));

    let r = remote.clone();
    tokio::task::spawn_blocking(move || {
        let scp = |c: &Client, name: &str, user: &str, args: &[&str]| {
            Command::new("scp")
                .args(c.via_master(name, user))
                .args(["-O", "-q"])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let there = |path: &str| format!("127.0.0.1:{}/{path}", r.display());
        ok(&as_bob.master("bob", "bob:db", next_step(bob_step)), "ssh master bob");
        ok(&scp(&as_bob, "bob", "bob:db", &[payload.to_str().unwrap(), &there("up.bin")]), "scp -O up");
        assert_eq!(sha256(&r.join("up.bin")), sha256(&payload), "the upload arrives intact");
        let back = as_bob.dir.join("down.bin");
        ok(&scp(&as_bob, "bob", "bob:db", &[&there("up.bin"), back.to_str().unwrap()]), "scp -O down");
        assert_eq!(sha256(&back), sha256(&payload), "the download arrives intact");
        ok(&scp(&as_bob, "bob", "bob:db", &["-r", tree.to_str().unwrap(), &there("")]), "scp -O -r up");
        assert_eq!(std::fs::read(r.join("tree/a.txt")).unwrap(), b"first file\n");
        assert_eq!(sha256(&r.join("tree/sub/b.bin")), sha256(&tree.join("sub/b.bin")));

        let hostile = format!("127.0.0.1:{0}/x;touch {0}/MARKER", r.display());
        let out = scp(&as_bob, "bob", "bob:db", &[payload.to_str().unwrap(), &hostile]);
        assert!(!out.status.success(), "a path the shell interprets is an exec, not granted: {}", text(&out));
        assert!(!r.join("MARKER").exists(), "the shell never ran the command hidden in the path");
        assert!(!r.join("x").exists());
        let out = scp(&as_bob, "bob", "bob:db", &[payload.to_str().unwrap(), &there("secret.bin")]);
        assert!(!out.status.success(), "a red line refuses the scp command line: {}", text(&out));
        assert!(text(&out).contains("no-secrets"), "bob is told which red line: {}", text(&out));
        assert!(!r.join("secret.bin").exists(), "the target never saw the upload");
        as_bob.close("bob");

        ok(&client.master("admin", "admin:db", admin_step + 1), "ssh master admin");
        let out = scp(&client, "admin", "admin:db", &[payload.to_str().unwrap(), &there("admin.bin")]);
        assert!(!out.status.success(), "exec does not stand in for sftp-write: {}", text(&out));
        assert!(!r.join("admin.bin").exists(), "the target never saw the upload");
        client.close("admin");
    })
    .await
    .unwrap();

    // The download's last event is written when the client's final answer
    // passes, which the client does not wait for: poll briefly.
    let deadline = Instant::now() + Duration::from_secs(20);
    let files = loop {
        let files = events(&server, &admin, "bastion.file").await;
        if files.len() >= 6 || Instant::now() > deadline {
            break files;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let find = |op: &str, path_end: &str| {
        files
            .iter()
            .find(|e| {
                e["actor"] == "bob"
                    && e["attrs"]["op"] == op
                    && e["attrs"]["path"].as_str().is_some_and(|p| p.ends_with(path_end))
            })
            .unwrap_or_else(|| panic!("no {op} of {path_end} in {files:#?}"))
    };
    let up = find("upload", "/remote/up.bin");
    assert_eq!(up["attrs"]["name"], "payload.bin", "the name the client sent, beside the target path: {up}");
    for e in [up, find("download", "/remote/up.bin")] {
        assert_eq!(e["attrs"]["sha256"].as_str(), Some(payload_sha.as_str()), "the ledger holds the file's hash: {e}");
        assert_eq!(e["attrs"]["bytes"].as_u64(), Some(payload_len), "{e}");
        assert_eq!((e["outcome"].as_str(), e["attrs"]["result"].as_str()), (Some("success"), Some("done")), "{e}");
    }
    assert_eq!(find("mkdir", "/remote/tree")["attrs"]["result"], "done");
    assert_eq!(find("mkdir", "/remote/tree/sub")["attrs"]["result"], "done");
    assert_eq!(find("upload", "/remote/tree/a.txt")["attrs"]["bytes"], 11);
    assert_eq!(find("upload", "/remote/tree/sub/b.bin")["attrs"]["sha256"].as_str(), Some(b_sha.as_str()));
    assert!(!files.iter().any(|e| e["actor"] == "admin"), "the refused upload touched no file: {files:#?}");

    let started = events(&server, &admin, "bastion.session.started").await;
    let scp_sessions: Vec<&Value> = started.iter().filter(|e| e["attrs"]["action"] == "scp").collect();
    assert_eq!(scp_sessions.len(), 3, "up, down and -r are scp sessions: {started:#?}");
    for e in &scp_sessions {
        assert!(e["attrs"]["command"].as_str().is_some_and(|c| c.starts_with("scp ")), "{e}");
        assert!(e["attrs"].get("recording").is_none(), "file bytes are not recorded as a terminal: {e}");
    }
    let ended = events(&server, &admin, "bastion.session.ended").await;
    for e in &scp_sessions {
        let id = &e["attrs"]["session"];
        let end =
            ended.iter().find(|x| &x["attrs"]["session"] == id).unwrap_or_else(|| panic!("{id} ended: {ended:#?}"));
        assert_eq!((end["attrs"]["action"].as_str(), end["outcome"].as_str()), (Some("scp"), Some("success")), "{end}");
    }
    let refused = events(&server, &admin, "bastion.session.refused").await;
    assert!(
        refused.iter().any(|e| e["actor"] == "bob"
            && e["attrs"]["action"] == "exec"
            && e["attrs"]["reason"] == "action_not_granted"),
        "the hostile path was an exec: {refused:#?}"
    );
    assert!(
        refused.iter().any(|e| e["actor"] == "admin"
            && e["attrs"]["action"] == "scp"
            && e["attrs"]["missing_grant"] == "sftp-write"),
        "{refused:#?}"
    );
    let commands = events(&server, &admin, "bastion.command").await;
    let denied = commands
        .iter()
        .find(|e| e["actor"] == "bob" && e["attrs"]["policy"] == "no-secrets")
        .unwrap_or_else(|| panic!("the refused scp command line is in the ledger: {commands:#?}"));
    assert_eq!((denied["outcome"].as_str(), denied["attrs"]["via"].as_str()), (Some("denied"), Some("exec")));
    server.stop().await;
}

/// Async recording mode: a recording that can no longer be written (here,
/// past its size cap) does not cut the session; the session runs to its end
/// and the loss is an alarm-grade `bastion.recording.failed` event, with
/// the end event saying the recording was lost. On the same login, the
/// environment allow-list: what it names reaches the target, the rest
/// (including `LD_PRELOAD`, which the target itself would accept) does not,
/// and the session's start event lists both by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_recording_outlives_a_failed_recording_and_only_allowed_env_passes() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&[]) else { return };
    let server = TestServer::start_with(|c| {
        c.bastion.recording_max_bytes = 8192;
        c.bastion.recording_mode = rampart_core::config::RecordingMode::Async;
        c.bastion.env_allow = vec!["LANG".into(), "EDITOR".into()];
    })
    .await;
    let (admin, client, admin_step, _) = admin_reaches_target(&server, &dir, &sshd, &login_key).await;
    let out = tokio::task::spawn_blocking(move || {
        let cmd = "echo lang=$LANG editor=$EDITOR preload=$LD_PRELOAD tz=$TZ; \
                   for i in $(seq 1 3000); do echo line-$i-of-a-long-output; done; echo finished-$((3*3))";
        let env = "SetEnv=LANG=C.UTF-8 EDITOR=vi LD_PRELOAD=/tmp/evil.so TZ=UTC";
        client.ssh(Some(admin_step + 1), &["-o", env, "admin:db@127.0.0.1", cmd]).output().unwrap()
    })
    .await
    .unwrap();
    ok(&out, "a session whose recording failed, in async mode");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("lang=C.UTF-8 editor=vi preload= tz=\n"), "only allowed variables arrive: {stdout:.200}");
    assert!(stdout.contains("finished-9"), "the session ran to its end");

    let lost = events(&server, &admin, "bastion.recording.failed").await;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!((lost[0]["outcome"].as_str(), lost[0]["attrs"]["mode"].as_str()), (Some("failure"), Some("async")));
    let started = events(&server, &admin, "bastion.session.started").await;
    let names = |key: &str| -> Vec<String> {
        let mut v: Vec<String> = started[0]["attrs"][key]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(names("env"), ["EDITOR", "LANG"]);
    assert_eq!(names("env_refused"), ["LD_PRELOAD", "TZ"]);
    let ended = events(&server, &admin, "bastion.session.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0]["outcome"].as_str(), ended[0]["attrs"]["recording_lost"].as_bool()),
        (Some("success"), Some(true))
    );
    for entry in std::fs::read_dir(server.data_dir().join("recordings")).unwrap().flatten() {
        assert!(entry.metadata().unwrap().len() <= 8192, "the cap holds on disk");
    }
    drop(sshd);
    server.stop().await;
}

/// `ssh USER@bastion` with no target: after the key and the TOTP code, the
/// interactive shell shows the targets the user's grants reach (not the
/// one without a grant), a wrong choice is said so, and a right one binds
/// the connection to that target with everything a named login gets (the
/// session start in the ledger, the recording). A command on such a login
/// cannot ask, so it is refused with the way to name the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_without_a_target_picks_one_from_a_menu() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&["script"]) else { return };
    let server = TestServer::start().await;
    let (admin, client, admin_step, _) = admin_reaches_target(&server, &dir, &sshd, &login_key).await;
    let other = serde_json::json!({ "name": "web", "address": "127.0.0.1", "port": sshd.port, "host_key": sshd.host_key,
        "login": sshd.login, "private_key": std::fs::read_to_string(&login_key).unwrap() });
    let created = server
        .request(reqwest::Method::POST, "/api/v1/bastion/targets", Some(&admin.token))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (shown, exec) = tokio::task::spawn_blocking(move || {
        ok(&client.master("admin", "admin", admin_step + 1), "ssh master admin (no target)");
        let exec = client.over("admin", &["x", "echo never"]).output().unwrap();
        let mut shell = client.interactive("admin");
        {
            let mut stdin = shell.stdin.take().unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            stdin.write_all(b"9\r").unwrap();
            std::thread::sleep(Duration::from_millis(300));
            stdin.write_all(b"1\r").unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            stdin.write_all(b"echo picked-$((6*7))\n").unwrap();
            std::thread::sleep(Duration::from_millis(500));
            stdin.write_all(b"exit\n").unwrap();
            std::thread::sleep(Duration::from_millis(500));
        }
        let out = shell.wait_with_output().unwrap();
        client.close("admin");
        (text(&out), exec)
    })
    .await
    .unwrap();
    assert!(shown.contains("1) db"), "the menu offers the granted target: {shown}");
    assert!(!shown.contains("web"), "a target without a grant is not offered: {shown}");
    assert!(shown.contains("no such target"), "{shown}");
    assert!(shown.contains("picked-42"), "the shell on the chosen target runs: {shown}");
    assert!(!exec.status.success() && !String::from_utf8_lossy(&exec.stdout).contains("never"), "{}", text(&exec));
    let refused = events(&server, &admin, "bastion.session.refused").await;
    assert!(refused.iter().any(|e| e["attrs"]["reason"] == "no_target_named"), "{refused:?}");
    let started = events(&server, &admin, "bastion.session.started").await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(
        (started[0]["attrs"]["target"].as_str(), started[0]["attrs"]["action"].as_str()),
        (Some("db"), Some("shell"))
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let ended = events(&server, &admin, "bastion.session.ended").await;
        if !ended.is_empty() || Instant::now() > deadline {
            break ended;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ended.len(), 1, "the picked session ended: {ended:?}");
    let picked = downloaded(&server, &admin, ended[0]["attrs"]["session"].as_str().unwrap()).await;
    assert!(String::from_utf8_lossy(&picked).contains("picked-42"), "the picked session is recorded");
    drop(sshd);
    server.stop().await;
}

/// Registers the admin's SSH key, a target `db` for `sshd` and a shell and
/// exec grant for the admin on it; the admin's session, an OpenSSH client
/// for it, the TOTP step of its login and the grant's id.
async fn admin_reaches_target(
    server: &TestServer,
    dir: &Path,
    sshd: &Sshd,
    login_key: &Path,
) -> (Session, Client, u64, String) {
    let bastion = server.running.as_ref().unwrap().bastion.as_ref().expect("the bastion listens").addr;
    let admin = server.admin_session().await;
    let admin_step = unix_now() / 30;
    let ca = server.data_dir().join("tls/ca.pem");
    let cfg = dir.join("cli");
    let cli = |args: &[&str]| rampart(&server.url, &ca, &admin.token, &cfg, args);
    let admin_key = dir.join("admin_key");
    keygen(&admin_key);
    ok(&cli(&["ssh-key", "add", admin_key.with_extension("pub").to_str().unwrap()]), "ssh-key add");
    let port = sshd.port.to_string();
    let target = [
        "target",
        "create",
        "db",
        "--address",
        "127.0.0.1",
        "--port",
        &port,
        "--host-key",
        &sshd.host_key,
        "--login",
        &sshd.login,
        "--private-key-file",
        login_key.to_str().unwrap(),
    ];
    ok(&cli(&target), "target create");
    let grant = cli(&["--json", "grant", "create", "--user", "admin", "--target", "db", "--actions", "shell,exec"]);
    ok(&grant, "grant");
    let grant: Value = serde_json::from_slice(&grant.stdout).unwrap();
    let secret = data_encoding::BASE32_NOPAD.encode(admin.creds.totp_secret.as_deref().unwrap());
    let client = Client { dir: dir.to_path_buf(), bastion, key: admin_key, totp_secret: secret };
    (admin, client, admin_step, grant["id"].as_str().unwrap().to_owned())
}

/// Sessions are listed (live and ended), played back from the API with
/// the recording's ledger hash checked (a changed file is refused), and
/// cut from outside: terminated by an administrator, or by revoking the
/// grant they rest on, each within the re-check interval and with its
/// reason in the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_played_terminated_and_cut_when_their_grant_goes() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&[]) else { return };
    let server = TestServer::start_with(|c| c.bastion.recording_retention_days = 1).await;
    let (admin, client, admin_step, grant_id) = admin_reaches_target(&server, &dir, &sshd, &login_key).await;
    let client = std::sync::Arc::new(client);
    let ca = server.data_dir().join("tls/ca.pem");
    let cfg = dir.join("cli");
    let cli = |args: &[&str]| rampart(&server.url, &ca, &admin.token, &cfg, args);

    // A finished exec session, played back through the API; then one whose
    // recording passes 1 MiB, so a chunk hash reaches the ledger while it runs.
    let c = client.clone();
    let (out, big) = tokio::task::spawn_blocking(move || {
        ok(&c.master("admin", "admin:db", admin_step + 1), "ssh master");
        let out = c.over("admin", &["x", "echo played-$((2*21))"]).output().unwrap();
        let big = c.over("admin", &["x", "seq 1 200000"]).output().unwrap();
        (out, big)
    })
    .await
    .unwrap();
    ok(&out, "exec");
    ok(&big, "exec with a large output");
    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let all = server.get_json("/api/v1/bastion/sessions", &admin.token).await;
        let done = all.as_array().map(|a| a.iter().filter(|s| s["outcome"] != "running").cloned().collect::<Vec<_>>());
        if let Some(done) = done.filter(|d| d.len() == 2) {
            // Newest first: the large one, then the first.
            // Chunk hashes are over the plaintext asciicast, as downloaded.
            let bytes = downloaded(&server, &admin, done[0]["id"].as_str().unwrap()).await;
            assert!(bytes.len() > 1 << 20, "seq's output makes the recording pass 1 MiB");
            let chunks = events(&server, &admin, "bastion.recording.chunk").await;
            let mut chunks: Vec<&Value> = chunks.iter().filter(|e| e["attrs"]["session"] == done[0]["id"]).collect();
            chunks.sort_by_key(|e| e["attrs"]["index"].as_u64());
            if chunks.len() < bytes.len().div_ceil(1 << 20) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            assert_eq!(chunks.len(), bytes.len().div_ceil(1 << 20), "one event per MiB chunk: {chunks:?}");
            for c in &chunks {
                let (offset, len) =
                    (c["attrs"]["offset"].as_u64().unwrap() as usize, c["attrs"]["bytes"].as_u64().unwrap() as usize);
                let part = &bytes[offset..offset + len];
                let sum =
                    rampart_core::secret::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, part).as_ref());
                assert_eq!(c["attrs"]["sha256"].as_str(), Some(sum.as_str()), "the chunk hash matches the file");
            }
            break (done[1].clone(), done[0]["id"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (ended, done_big_id) = ended;
    let id = ended["id"].as_str().unwrap().to_owned();
    assert_eq!((ended["action"].as_str(), ended["username"].as_str()), (Some("exec"), Some("admin")), "{ended}");
    let played = cli(&["session", "play", &id, "--speed", "1000"]);
    ok(&played, "session play");
    assert!(String::from_utf8_lossy(&played.stdout).contains("played-42"), "{}", text(&played));
    let saved = dir.join("saved.cast");
    ok(&cli(&["session", "play", &id, "--save", saved.to_str().unwrap()]), "session play --save");
    assert_eq!(sha256(&saved), ended["recording_sha256"].as_str().unwrap(), "the ledger's hash of what was served");
    // A recording changed on disk is refused, each kind of change with its
    // reason: bytes added, a bit flipped, the end cut off, another
    // session's file (header and all) put in its place.
    let path = server.data_dir().join("recordings").join(format!("{id}.cast"));
    let other = server.data_dir().join("recordings").join(format!("{}.cast", done_big_id));
    let original = std::fs::read(&path).unwrap();
    let mut appended = original.clone();
    appended.extend_from_slice(b"[9.9, \"o\", \"forged\"]\n");
    let mut flipped = original.clone();
    let at = flipped.len() - 40;
    flipped[at] ^= 0x20;
    let cut = original[..original.len() - 20].to_vec();
    let swapped = std::fs::read(&other).unwrap();
    for (what, bytes, says) in [
        ("appended", appended, "after its final segment"),
        ("flipped", flipped, "does not authenticate"),
        ("cut", cut, "truncated"),
        ("swapped", swapped, "carries the header of"),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let refused = server
            .request(reqwest::Method::GET, &format!("/api/v1/bastion/sessions/{id}/recording"), Some(&admin.token))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 409, "a recording {what} is not served");
        let problem: Value = refused.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap_or_default().contains(says), "{what}: {problem}");
    }
    assert!(!cli(&["session", "play", &id]).status.success());
    std::fs::write(&path, &original).unwrap();
    ok(&cli(&["session", "play", &id, "--speed", "1000"]), "the restored recording plays again");

    // A running session, terminated by an administrator; then another, cut
    // by revoking the grant.
    let running = |cmd: &'static str| {
        let c = client.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = c.over("admin", &["x", cmd]).output().unwrap();
            (out, started.elapsed())
        })
    };
    let live_one = async || loop {
        let live = server.get_json("/api/v1/bastion/sessions?live=true", &admin.token).await;
        if let Some(s) = live.as_array().and_then(|a| a.first()).cloned() {
            break s["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first = running("sleep 60; echo never-terminated");
    let live_id = live_one().await;

    // Retention, two days on: the ended sessions' recordings go, each an
    // event, their hashes stay; the running session's is never touched.
    let state = &server.running.as_ref().unwrap().state;
    let two_days_on = rampart_core::time::now_ms() + 2 * 86_400_000;
    let removed = state.bastion.sweep_recordings(two_days_on).await.unwrap();
    assert_eq!(removed, 2, "the played exec session and the large one");
    assert_eq!(state.bastion.sweep_recordings(two_days_on).await.unwrap(), 0, "once");
    let recordings = server.data_dir().join("recordings");
    assert!(recordings.join(format!("{live_id}.cast")).exists(), "a live session's recording is never removed");
    assert!(!path.exists() && !other.exists(), "expired recordings are removed from disk");
    let expired = events(&server, &admin, "bastion.recording.expired").await;
    assert_eq!(expired.len(), 2, "{expired:?}");
    let gone = expired.iter().find(|e| e["object"] == id.as_str()).expect("an event per removal");
    assert_eq!(gone["attrs"]["recording_sha256"], ended["recording_sha256"], "the event keeps the hash");
    let answer = server
        .request(reqwest::Method::GET, &format!("/api/v1/bastion/sessions/{id}/recording"), Some(&admin.token))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 410, "an expired recording is gone, not missing");
    let problem: Value = answer.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("retention"), "{problem}");
    let shown = server.get_json(&format!("/api/v1/bastion/sessions/{id}"), &admin.token).await;
    assert_eq!(shown["recording_sha256"], ended["recording_sha256"], "the index keeps the hash: {shown}");
    assert_eq!((shown["has_recording"].as_bool(), shown["recording_expired_at"].is_string()), (Some(false), true));
    ok(&cli(&["session", "terminate", &live_id]), "session terminate");
    let (out, took) = first.await.unwrap();
    assert!(!out.status.success() && !text(&out).contains("never-terminated"), "{}", text(&out));
    assert!(text(&out).contains("terminated by admin"), "{}", text(&out));
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(
        server.get_json(&format!("/api/v1/bastion/sessions/{live_id}"), &admin.token).await["reason"],
        "terminated"
    );
    assert!(!cli(&["session", "terminate", &live_id]).status.success(), "an ended session cannot be terminated");

    let second = running("sleep 60; echo never-cut");
    let live_id = live_one().await;
    let revoked = server
        .request(reqwest::Method::DELETE, &format!("/api/v1/bastion/grants/{grant_id}"), Some(&admin.token))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let (out, took) = second.await.unwrap();
    client.close("admin");
    assert!(!out.status.success() && !text(&out).contains("never-cut"), "{}", text(&out));
    assert!(text(&out).contains("no grant covers this session"), "{}", text(&out));
    assert!(took < Duration::from_secs(20), "cut within the re-check interval, not after the command: {took:?}");
    assert_eq!(
        server.get_json(&format!("/api/v1/bastion/sessions/{live_id}"), &admin.token).await["reason"],
        "grant_ended"
    );
    let ended = events(&server, &admin, "bastion.session.ended").await;
    let reasons: Vec<&str> = ended.iter().filter_map(|e| e["attrs"]["reason"].as_str()).collect();
    assert!(reasons.contains(&"grant_ended") && reasons.contains(&"terminated"), "{reasons:?}");
    assert!(!events(&server, &admin, "bastion.recording.read").await.is_empty(), "reading a recording is audited");

    // Crypto-shredding: with the KMS key that wraps the recordings' data
    // keys pending deletion, no recording opens; once it is deleted (the
    // purge run as if its date had come), none ever will.
    let readable = downloaded(&server, &admin, &live_id).await;
    assert!(!readable.is_empty());
    let system = rampart_kms::service::Caller {
        tenant: None,
        actor: "test".into(),
        source: None,
        api: rampart_kms::Api::Aws,
        may_use: true,
        may_manage: true,
    };
    let alias = rampart_kms::KeyRef::Alias(rampart_kms::AliasName::parse("alias/rampart/recordings").unwrap());
    let key = state.kms.describe_key(&system, &alias).await.unwrap();
    state.kms.schedule_key_deletion(&system, &rampart_kms::KeyRef::Id(key.key_id), Some(7)).await.unwrap();
    let fetch = async |what: &str| {
        let answer = server
            .request(reqwest::Method::GET, &format!("/api/v1/bastion/sessions/{live_id}/recording"), Some(&admin.token))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let problem: Value = answer.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 410, "{what}: {problem}");
        problem["detail"].as_str().unwrap_or_default().to_owned()
    };
    assert!(fetch("pending deletion").await.contains("pending deletion"));
    let purged = state.kms.purge_due(rampart_core::time::now_ms() + 8 * 86_400_000).await.unwrap();
    assert!(purged >= 1);
    assert!(fetch("deleted").await.contains("crypto-shredded"));
    server.stop().await;
}

/// Command red lines in the live proxy, with real OpenSSH on both sides: a
/// `reject` line typed into an interactive shell (split over keystrokes,
/// fixed with a backspace) never reaches the target, so the marker file it
/// would create never appears, and the administrator is told why; a `warn`
/// line runs and is flagged; an exec command is checked the same way. Every
/// line is a `bastion.command` event with its verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_lines_stop_a_command_before_it_reaches_the_target() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&["script"]) else { return };
    let marks = dir.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let red_lines = dir.join("red-lines.toml");
    std::fs::write(
        &red_lines,
        "[[policies]]\nid = \"no-forbidden\"\ndescription = \"the forbidden marker\"\naction = \"reject\"\n\
         regex = ['^touch .*forbidden']\n\n[[policies]]\nid = \"flag-warned\"\naction = \"warn\"\n\
         regex = ['^touch .*warned']\n\n[[policies]]\nid = \"second-eyes\"\naction = \"review\"\n\
         review_timeout_secs = 60\nregex = ['^touch .*reviewed-ok']\n\n[[policies]]\nid = \"hurry\"\n\
         action = \"review\"\nreview_timeout_secs = 2\nregex = ['^touch .*reviewed-late']\n",
    )
    .unwrap();
    // A broken file stops the node from starting, naming the policy.
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[[policies]]\nid = \"oops\"\naction = \"reject\"\nregex = ['(']\n").unwrap();
    let mut config = rampart_testkit::test_config(&dir.join("broken-node"));
    config.bastion.red_lines = Some(broken);
    let Err(refused) = rampart_server::server::build(config).await else {
        panic!("a broken red-line file must stop the node");
    };
    assert!(refused.to_string().contains("oops"), "{refused}");

    let rl = red_lines.clone();
    let server = TestServer::start_with(move |c| c.bastion.red_lines = Some(rl)).await;
    let (admin, client, admin_step, _) = admin_reaches_target(&server, &dir, &sshd, &login_key).await;
    let sam = server.session_for(&admin, "sam", Role::SecurityOperator, None).await;

    let m = marks.clone();
    let shell = tokio::task::spawn_blocking(move || {
        ok(&client.master("admin", "admin:db", admin_step + 1), "ssh master");
        let exec = |cmd: &str| client.over("admin", &["x", cmd]).output().unwrap();
        let refused = exec(&format!("touch {}/forbidden-exec", m.display()));
        assert!(!refused.status.success(), "a rejected exec must fail: {}", text(&refused));
        assert!(text(&refused).contains("no-forbidden"), "the administrator is told why: {}", text(&refused));
        ok(&exec(&format!("touch {}/allowed-exec", m.display())), "allowed exec");

        let mut shell = client.interactive("admin");
        {
            let mut stdin = shell.stdin.take().unwrap();
            let mut type_in = |bytes: &[u8]| {
                stdin.write_all(bytes).unwrap();
                stdin.flush().unwrap();
                std::thread::sleep(Duration::from_millis(400));
            };
            std::thread::sleep(Duration::from_millis(1500));
            let dir = m.display().to_string();
            // Split over writes, with a typo fixed by backspace.
            type_in(format!("touch {dir}/forbid").as_bytes());
            type_in(b"dem\x7fn-shell\n");
            type_in(format!("touch {dir}/warned-shell\n").as_bytes());
            type_in(format!("touch {dir}/allowed-shell\n").as_bytes());
            // Held for review: the session pauses (what is typed meanwhile
            // waits) until sam approves; then both run, in order.
            type_in(format!("touch {dir}/reviewed-ok\n").as_bytes());
            type_in(format!("touch {dir}/typed-while-paused\n").as_bytes());
            let deadline = Instant::now() + Duration::from_secs(30);
            while !m.join("typed-while-paused").exists() {
                assert!(Instant::now() < deadline, "the approved command and the queued one never ran");
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(m.join("reviewed-ok").exists(), "the approved command ran first");
            // Nobody approves this one within its 2 seconds.
            type_in(format!("touch {dir}/reviewed-late\n").as_bytes());
            std::thread::sleep(Duration::from_secs(4));
            type_in(b"exit\n");
        }
        let out = shell.wait_with_output().unwrap();
        client.close("admin");
        text(&out)
    });
    // The reviewer's side: wait for the held command, refuse self-approval,
    // approve as sam.
    let review = loop {
        let pending = server.get_json("/api/v1/bastion/reviews", &sam.token).await;
        if let Some(r) = pending.as_array().and_then(|a| a.first()).cloned() {
            break r;
        }
        assert!(!shell.is_finished(), "the shell ended before any review was asked for");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(review["command"].as_str().unwrap().contains("reviewed-ok"), "{review}");
    assert_eq!((review["policy"].as_str(), review["requester"].as_str()), (Some("second-eyes"), Some("admin")));
    assert!(!marks.join("reviewed-ok").exists(), "held until approved");
    let id = review["id"].as_str().unwrap().to_owned();
    let decide = |who: &Session, verb: &str| {
        server
            .request(reqwest::Method::POST, &format!("/api/v1/bastion/reviews/{id}/{verb}"), Some(&who.token))
            .json(&serde_json::json!({ "comment": "looked at it" }))
            .send()
    };
    assert_eq!(decide(&admin, "approve").await.unwrap().status(), 403, "no self-approval");
    let ops = server.session_for(&admin, "olga", Role::OperationsEngineer, None).await;
    assert_eq!(decide(&ops, "approve").await.unwrap().status(), 403, "only reviewers review");
    let approved = decide(&sam, "approve").await.unwrap();
    assert_eq!(approved.status(), 200);
    assert_eq!(decide(&sam, "deny").await.unwrap().status(), 409, "decided once");
    let shell_output = shell.await.unwrap();
    assert!(shell_output.contains("refused by red line \"no-forbidden\""), "{shell_output}");
    assert!(shell_output.contains("approved by sam"), "{shell_output}");
    assert!(shell_output.contains("expired without approval"), "{shell_output}");
    let all = server.get_json("/api/v1/bastion/reviews?status=all", &sam.token).await;
    let statuses: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["expired", "approved"], "{all}");
    for (file, present) in [
        ("forbidden-exec", false),
        ("forbidden-shell", false),
        ("allowed-exec", true),
        ("warned-shell", true),
        ("allowed-shell", true),
        ("reviewed-ok", true),
        ("typed-while-paused", true),
        ("reviewed-late", false),
    ] {
        assert_eq!(marks.join(file).exists(), present, "{file}: {shell_output}");
    }

    let commands = events(&server, &admin, "bastion.command").await;
    let verdict = |needle: &str| {
        commands
            .iter()
            .find(|e| e["attrs"]["command"].as_str().is_some_and(|c| c.contains(needle)))
            .map(|e| {
                (e["attrs"]["action"].as_str().unwrap().to_owned(), e["attrs"]["via"].as_str().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("no bastion.command event for {needle}: {commands:?}"))
    };
    assert_eq!(verdict("forbidden-exec"), ("reject".to_owned(), "exec".to_owned()));
    assert_eq!(verdict("forbidden-shell"), ("reject".to_owned(), "shell".to_owned()));
    assert_eq!(verdict("warned-shell"), ("warn".to_owned(), "shell".to_owned()));
    assert_eq!(verdict("allowed-shell"), ("accept".to_owned(), "shell".to_owned()));
    let rejected = commands.iter().find(|e| e["attrs"]["action"] == "reject").unwrap();
    assert_eq!(rejected["outcome"], "denied");
    assert_eq!(rejected["attrs"]["policy"], "no-forbidden");
    assert_eq!(verdict("reviewed-ok"), ("review".to_owned(), "shell".to_owned()));
    for kind in ["bastion.review.requested", "bastion.review.approved", "bastion.review.expired"] {
        assert!(!events(&server, &admin, kind).await.is_empty(), "{kind} is in the ledger");
    }
    server.stop().await;
}

/// The live view: a reviewer follows a running interactive session through
/// the API (and `rampart session watch`) while the test types a command
/// over real OpenSSH. The watcher sees the command's output while the
/// session is still running, and the stream ends when the session does,
/// holding exactly the recording a download gives. Someone without the
/// reviewer permission is refused; each watch is in the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_watches_a_live_session_until_it_ends() {
    let Some(World { work: _work, dir, login_key, sshd }) = world(&["script"]) else { return };
    let server = TestServer::start().await;
    let (admin, client, admin_step, _) = admin_reaches_target(&server, &dir, &sshd, &login_key).await;
    let reviewer = server.session_for(&admin, "rev", Role::SecurityOperator, None).await;
    let auditor = server.session_for(&admin, "aud", Role::Auditor, None).await;
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let shell = tokio::task::spawn_blocking(move || {
        ok(&client.master("admin", "admin:db", admin_step + 1), "ssh master");
        let mut shell = client.interactive("admin");
        let mut stdin = shell.stdin.take().unwrap();
        wait.recv_timeout(Duration::from_secs(60)).unwrap();
        stdin.write_all(b"echo watched-$((6*7))\n").unwrap();
        stdin.flush().unwrap();
        wait.recv_timeout(Duration::from_secs(60)).unwrap();
        stdin.write_all(b"exit\n").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(stdin);
        let out = shell.wait_with_output().unwrap();
        client.close("admin");
        out
    });
    let live_id = loop {
        let live = server.get_json("/api/v1/bastion/sessions?live=true", &admin.token).await;
        if let Some(id) = live.as_array().and_then(|a| a.first()).and_then(|s| s["id"].as_str()) {
            break id.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let path = format!("/api/v1/bastion/sessions/{live_id}/live");

    // Without the reviewer permission: refused by the gate.
    let refused = server.request(reqwest::Method::GET, &path, Some(&auditor.token)).send().await.unwrap();
    assert_eq!(refused.status(), 403, "an auditor may read recordings but not watch live");

    // The reviewer watches through the API, and through the CLI.
    let mut live = server.request(reqwest::Method::GET, &path, Some(&reviewer.token)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "application/x-asciicast");
    let ca = server.data_dir().join("tls/ca.pem");
    let cli_watch = Command::new(BIN)
        .args(["--server", &server.url, "--ca-cert", ca.to_str().unwrap(), "session", "watch", &live_id])
        .env("RAMPART_TOKEN", &reviewer.token)
        .env("RAMPART_CONFIG_DIR", dir.join("cli"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let the shell's prompt arrive, then type.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    go.send(()).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&seen).contains("watched-42") {
        assert!(Instant::now() < deadline, "the output never reached the watcher: {}", String::from_utf8_lossy(&seen));
        match tokio::time::timeout(Duration::from_secs(30), live.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.extend_from_slice(&chunk),
            other => panic!("the live view ended early: {other:?}"),
        }
    }
    let now = server.get_json(&format!("/api/v1/bastion/sessions/{live_id}"), &admin.token).await;
    assert_eq!(now["outcome"], "running", "the watcher saw the output while the session ran");
    let header: Value = serde_json::from_slice(seen.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "the stream starts with the asciicast header");

    // The session ends: so does the stream.
    go.send(()).unwrap();
    let out = shell.await.unwrap();
    assert!(text(&out).contains("watched-42"), "{}", text(&out));
    let rest = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = live.chunk().await.unwrap() {
            seen.extend_from_slice(&chunk);
        }
    })
    .await;
    assert!(rest.is_ok(), "the live view ends with the session");
    let ended = server.get_json(&format!("/api/v1/bastion/sessions/{live_id}"), &admin.token).await;
    assert_ne!(ended["outcome"], "running");
    assert_eq!(seen, downloaded(&server, &admin, &live_id).await, "the live view sent the whole recording");
    let watched = tokio::task::spawn_blocking(move || cli_watch.wait_with_output().unwrap()).await.unwrap();
    ok(&watched, "session watch");
    assert!(String::from_utf8_lossy(&watched.stdout).contains("watched-42"), "{}", text(&watched));

    let events = events(&server, &admin, "bastion.session.watched").await;
    let by_reviewer: Vec<&Value> = events.iter().filter(|e| e["actor"] == "rev").collect();
    assert_eq!(by_reviewer.len(), 2, "the API and the CLI watch: {events:?}");
    assert!(by_reviewer.iter().all(|e| e["object"] == live_id.as_str() && e["attrs"]["user"] == "admin"));
    assert!(events.iter().all(|e| e["actor"] != "aud"), "a refused watch shows nothing and is not a watch");
    drop(sshd);
    server.stop().await;
}

/// `who` as an OpenSSH client of the bastion at `bastion`: a fresh key pair
/// `dir/NAME_key`, its public half registered as their login key, and their
/// TOTP secret for the second factor.
async fn bastion_client(server: &TestServer, who: &Session, dir: &Path, bastion: SocketAddr) -> Client {
    let name = format!("{}_key", who.creds.username);
    let key = dir.join(&name);
    let public = keygen(&key);
    let resp = server
        .request(reqwest::Method::POST, "/api/v1/ssh-keys", Some(&who.token))
        .json(&serde_json::json!({ "public_key": public }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "registering {name}");
    Client {
        dir: dir.to_path_buf(),
        bastion,
        key,
        totp_secret: data_encoding::BASE32_NOPAD.encode(who.creds.totp_secret.as_deref().unwrap()),
    }
}
