//! Typed configuration, validated in one step from three layers: a TOML file,
//! `RAMPART_*` environment variables, then command-line flags, each layer
//! overriding the one before. Unknown keys are rejected in every layer, so a
//! typo is an error instead of a silently ignored setting.
//!
//! Environment variables name nested keys with a double underscore:
//! `RAMPART_SERVER__LISTEN=0.0.0.0:8443` sets `server.listen`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Top-level sections; only environment variables under these are read, so
/// client-side variables such as `RAMPART_URL` do not disturb the server.
const SECTIONS: [&str; 12] = [
    "data_dir", "server", "database", "log", "auth", "audit", "ledger", "kms", "ingest", "bastion", "secops", "detect",
];

pub mod secops;
pub use secops::SecopsConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where all state lives (default `./rampart-data`).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
    pub ledger: LedgerConfig,
    pub kms: KmsConfig,
    pub ingest: IngestConfig,
    pub bastion: BastionConfig,
    /// The ticket desk and its notifications.
    pub secops: SecopsConfig,
    pub detect: DetectConfig,
}

/// The rule packs `[detect] packs` can name.
pub const DETECT_PACKS: [&str; 2] = ["rampart-redline", "sigmahq"];

/// `[detect]`: the detection stage that evaluates Sigma rules over the
/// ledger (Rampart's own audit events and ingested logs) and raises alerts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Whether the node runs the detection stage.
    pub enabled: bool,
    /// Rule packs to load: `rampart-redline` (embedded in the binary) and
    /// `sigmahq` (read from `sigma_dir`, when it is set).
    pub packs: Vec<String>,
    /// A SigmaHQ `rules/` directory (not shipped with Rampart; the rules
    /// are under the Detection Rule License 1.1).
    pub sigma_dir: Option<PathBuf>,
    /// The subdirectories of `sigma_dir` that are loaded.
    pub sigma_categories: Vec<String>,
    /// Further directories of Sigma rules of your own (pack `custom`).
    pub rules_dirs: Vec<PathBuf>,
    /// Most ledger entries read and evaluated in one step.
    pub batch: usize,
    /// Threads that match a batch against the rules (0: one per available
    /// core). Correlation stays sequential, in ledger order.
    pub threads: usize,
    /// How often the cursor and correlation state are written to
    /// `DIR/detect/state.json`, in seconds (and at shutdown).
    pub snapshot_secs: u64,
    /// How late, in event time, an event may arrive and still be ordered
    /// among the others by a correlation.
    pub lateness_ms: i64,
    /// How long an event may wait for reordering before it is applied
    /// anyway: the most reordering adds to an alert's latency.
    pub max_delay_ms: i64,
    /// Events kept per correlation group window; the oldest are evicted.
    pub max_entries_per_group: usize,
    /// Groups kept per correlation rule; the least recently updated are evicted.
    pub max_groups_per_rule: usize,
    /// Events kept over all correlation windows.
    pub max_total_entries: usize,
    /// Events waiting for reordering; beyond it the oldest are applied early.
    pub max_pending: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            enabled: true,
            packs: DETECT_PACKS.iter().map(|p| (*p).to_owned()).collect(),
            sigma_dir: None,
            sigma_categories: ["linux", "network", "web", "cloud"].iter().map(|c| (*c).to_owned()).collect(),
            rules_dirs: Vec::new(),
            batch: 1024,
            threads: 0,
            snapshot_secs: 5,
            lateness_ms: 60_000,
            max_delay_ms: 250,
            max_entries_per_group: 10_000,
            max_groups_per_rule: 10_000,
            max_total_entries: 1_000_000,
            max_pending: 100_000,
        }
    }
}

impl DetectConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Some(p) = self.packs.iter().find(|p| !DETECT_PACKS.contains(&p.as_str())) {
            return bad(format!("detect.packs: unknown pack {p:?} (known: {})", DETECT_PACKS.join(", ")));
        }
        if !(1..=65_536).contains(&self.batch) {
            return bad("detect.batch must be between 1 and 65536".into());
        }
        if self.threads > 256 {
            return bad("detect.threads must be between 0 (one per core) and 256".into());
        }
        if self.snapshot_secs == 0 {
            return bad("detect.snapshot_secs must be at least 1".into());
        }
        if !(0..=86_400_000).contains(&self.lateness_ms) {
            return bad("detect.lateness_ms must be between 0 and 86400000 (a day)".into());
        }
        if !(0..=10_000).contains(&self.max_delay_ms) {
            return bad("detect.max_delay_ms must be between 0 and 10000, so alerts stay timely".into());
        }
        if self.max_entries_per_group == 0
            || self.max_groups_per_rule == 0
            || self.max_total_entries == 0
            || self.max_pending == 0
        {
            return bad("detect.max_entries_per_group, max_groups_per_rule, max_total_entries and max_pending \
                 must be at least 1"
                .into());
        }
        Ok(())
    }
}

/// `[bastion]`: the SSH bastion that administrators reach backend systems
/// through (`ssh -p 2222 USER:TARGET@host`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BastionConfig {
    /// Whether `rampart serve` starts the SSH listener.
    pub enabled: bool,
    /// The SSH listener (default 127.0.0.1:2222).
    pub listen: SocketAddr,
    /// Time allowed to reach and authenticate to a target, in seconds.
    pub connect_timeout_secs: u64,
    /// A connection with no traffic for this long is closed, in seconds.
    pub idle_timeout_secs: u64,
    /// The largest one session's recording may grow, in bytes. A session
    /// whose recording would grow beyond it is cut, like one whose
    /// recording cannot be written, so one session cannot fill the disk.
    pub recording_max_bytes: u64,
    /// Command red lines: a TOML file of ordered policies (the format of
    /// `crates/rampart-bastion/RED-LINES.md`). Checked at start; a broken
    /// file stops the node with every problem listed. Unset: no red lines.
    pub red_lines: Option<std::path::PathBuf>,
    /// The longest a just-in-time access request may ask for, in seconds.
    pub jit_max_duration_secs: u64,
    /// A just-in-time request nobody decided expires after this, in seconds.
    pub jit_pending_timeout_secs: u64,
    /// The longest window a lockbox request may ask for, in seconds.
    pub lockbox_max_duration_secs: u64,
    /// A lockbox request the customer admin did not decide expires after
    /// this, in seconds.
    pub lockbox_pending_timeout_secs: u64,
    /// The longest an SSH user certificate from the bastion's CA is valid
    /// (default 8 h); a request may ask for less, never more.
    pub ssh_cert_max_secs: u64,
    /// Environment variables a client may pass to the target (`SendEnv`):
    /// exact names, or a prefix ending in `*`. Everything else is refused
    /// and noted on the session's start event. Names that change how the
    /// target's shell starts or runs (`LD_*`, `BASH_ENV`, `PATH`,
    /// `PROMPT_COMMAND`...) cannot be allowed: they would run code the
    /// red lines never see.
    pub env_allow: Vec<String>,
    /// `sync` (default): a recording that cannot be written cuts the
    /// session, so nothing happens unrecorded. `async`: the session goes
    /// on unrecorded from that point, and the failure is an alarm-grade
    /// `bastion.recording.failed` event; for break-glass targets where a
    /// full disk must not end an incident response.
    pub recording_mode: RecordingMode,
    /// Days a recording is kept after its session ends; the node's sweep
    /// then removes the file (and with it the wrapped data key in its
    /// header) while the ledger keeps its SHA-256 and size. 0 keeps
    /// recordings forever.
    pub recording_retention_days: u32,
}

/// The longest `[bastion] recording_retention_days` (100 years).
pub const MAX_RECORDING_RETENTION_DAYS: u32 = 36_500;

/// What a failed session recording does to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecordingMode {
    #[default]
    Sync,
    Async,
}

/// Environment variables no allow-list may let through: each changes what
/// the target's shell or its programs run at start.
pub const ENV_NEVER: &[&str] = &[
    "LD_*",
    "BASH_ENV",
    "ENV",
    "BASH_FUNC_*",
    "PATH",
    "PROMPT_COMMAND",
    "PS0",
    "PS1",
    "PS4",
    "SHELLOPTS",
    "BASHOPTS",
    "IFS",
    "HISTFILE",
    "HISTCONTROL",
    "HISTIGNORE",
    "PYTHONSTARTUP",
    "PERL5OPT",
    "GLIBC_TUNABLES",
];

/// Whether `name` matches an allow-list pattern (exact, or prefix`*`).
pub fn env_pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl BastionConfig {
    /// Whether a client may set `name` on the target.
    pub fn env_allowed(&self, name: &str) -> bool {
        !ENV_NEVER.iter().any(|p| env_pattern_matches(p, name))
            && self.env_allow.iter().any(|p| env_pattern_matches(p, name))
    }

    fn validate_env(&self) -> Result<(), String> {
        for pattern in &self.env_allow {
            let name = pattern.strip_suffix('*').unwrap_or(pattern);
            let well_formed = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !well_formed {
                return Err(format!(
                    "bastion.env_allow: {pattern:?} is not a variable name (letters, digits, '_') or a prefix ending in '*'"
                ));
            }
            // A pattern that could let a forbidden name through is refused:
            // the two overlap when one, read as a prefix, covers the other.
            let overlaps = |never: &str| {
                let (n, n_wild) = never.strip_suffix('*').map_or((never, false), |p| (p, true));
                let wild = pattern.ends_with('*');
                name == n || (wild && n.starts_with(name)) || (n_wild && name.starts_with(n))
            };
            if let Some(never) = ENV_NEVER.iter().find(|n| overlaps(n)) {
                return Err(format!(
                    "bastion.env_allow: {pattern:?} would let {never} through, which is never allowed"
                ));
            }
        }
        Ok(())
    }
}

/// The longest any bastion access window or pending deadline may be: 90 days.
pub const BASTION_MAX_WINDOW_SECS: u64 = 90 * 24 * 3600;

impl Default for BastionConfig {
    fn default() -> Self {
        BastionConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 2222)),
            connect_timeout_secs: 10,
            idle_timeout_secs: 3600,
            recording_max_bytes: 1 << 30,
            red_lines: None,
            env_allow: vec!["LANG".into(), "LC_*".into(), "TZ".into()],
            recording_mode: RecordingMode::Sync,
            recording_retention_days: 0,
            jit_max_duration_secs: 8 * 3600,
            jit_pending_timeout_secs: 3600,
            lockbox_max_duration_secs: 8 * 3600,
            lockbox_pending_timeout_secs: 12 * 3600,
            ssh_cert_max_secs: 8 * 3600,
        }
    }
}

/// `[ingest]`: the syslog listeners and what happens to unknown senders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Syslog over UDP (one message per datagram), or `"off"`.
    pub udp: Listen,
    /// Syslog over TCP (RFC 6587 octet counting or newline framing), or `"off"`.
    pub tcp: Listen,
    /// Syslog over TLS (RFC 5425) with the node's certificate, or `"off"`.
    pub tls: Listen,
    /// What a message from a sender the source registry does not know does:
    /// `register` (the source is added, flagged unreviewed, and the message
    /// is stored), `hold` (the source is added as pending review and its
    /// messages are counted but not stored until it is reviewed) or
    /// `refuse` (nothing is added or stored; TCP connections are closed).
    pub unknown_sources: UnknownSources,
    /// Messages longer than this are cut to it and flagged `truncated`.
    pub max_message_bytes: usize,
    /// Events of one TCP or TLS connection that may be read but not yet
    /// durable in the ledger; the connection reads no further until some
    /// are (back-pressure: the sender slows down, nothing is dropped).
    pub max_in_flight: usize,
    /// Open TCP and TLS connections, together; connections beyond it are
    /// closed at once and counted, so a flood of them cannot exhaust the
    /// node's file descriptors.
    pub max_connections: usize,
    /// Datagrams waiting for the ledger beyond this, or beyond a quarter of
    /// it from one source, are dropped and counted (UDP has no way to slow a
    /// sender down; the share keeps one flood from starving the others).
    pub udp_queue: usize,
    /// Sources the registry may hold; senders beyond it are refused and
    /// counted, so forged host names cannot grow the registry without bound.
    pub max_sources: usize,
    /// How often sources are checked for silence beyond their heartbeat.
    pub silence_check_secs: u64,
    /// Client certificates on the TLS listener (mutual TLS): `off` (none
    /// asked for), `optional` (a sender may present one issued by `rampart
    /// source cert`; its events are then the certificate's source's) or
    /// `required` (a connection without a valid one is refused at the
    /// handshake). A certificate that is revoked, expired, unknown or from
    /// another CA is refused at the handshake in both modes.
    pub tls_client_auth: ClientAuth,
    /// How often the searchable index is pruned to each source's retention.
    pub retention_check_secs: u64,
}

/// `[ingest] tls_client_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    Off,
    Optional,
    Required,
}

/// A listener address, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    On(SocketAddr),
    Off,
}

impl Listen {
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            Listen::On(a) => Some(a),
            Listen::Off => None,
        }
    }
}

impl Serialize for Listen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Listen::On(a) => s.collect_str(a),
            Listen::Off => s.serialize_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "off" {
            return Ok(Listen::Off);
        }
        text.parse().map(Listen::On).map_err(|_| {
            serde::de::Error::custom(format!("{text:?} is neither an address such as 127.0.0.1:5514 nor \"off\""))
        })
    }
}

/// `[ingest] unknown_sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownSources {
    Register,
    Hold,
    Refuse,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            udp: Listen::On(SocketAddr::from(([127, 0, 0, 1], 5514))),
            tcp: Listen::On(SocketAddr::from(([127, 0, 0, 1], 5514))),
            tls: Listen::On(SocketAddr::from(([127, 0, 0, 1], 6514))),
            unknown_sources: UnknownSources::Register,
            max_message_bytes: 64 * 1024,
            max_in_flight: 1024,
            max_connections: 1024,
            udp_queue: 16_384,
            max_sources: 10_000,
            silence_check_secs: 5,
            tls_client_auth: ClientAuth::Off,
            retention_check_secs: 3600,
        }
    }
}

impl IngestConfig {
    /// Every listener off: for tests and tools that run a node beside others.
    pub fn off() -> Self {
        IngestConfig { udp: Listen::Off, tcp: Listen::Off, tls: Listen::Off, ..IngestConfig::default() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KmsConfig {
    /// The region the AWS-compatible API answers for (ARNs, SigV4 scope).
    pub region: String,
    /// Where the root wrapping key lives: `software` (a mode-0600 key file
    /// in the data directory, created on first start) or `pkcs11` (a
    /// non-extractable key inside an HSM, see `[kms.pkcs11]`).
    pub keystore: KeystoreKind,
    /// How many unwrapped key versions are kept in memory, and for how long,
    /// so the keystore (an HSM round trip) is not on every request's path.
    pub cache_entries: usize,
    pub cache_ttl_secs: u64,
    /// How long a key's metadata (state, policy, versions) and an alias's
    /// target are reused without reading the database. The node that
    /// changes a key sees the change at once; other nodes sharing the
    /// database within this bound. 0 reads the database on every request
    /// (strict consistency across nodes, at a cost in throughput).
    pub metadata_cache_ms: u64,
    /// How the software keystore's root key is sealed at rest: `key-file`
    /// (a mode-0600 file in the data directory, opened at start) or
    /// `shamir` (split into shares by `rampart operator init`; the node
    /// starts sealed until `rampart operator unseal` is given enough of
    /// them). Only meaningful with `keystore = "software"`.
    pub seal: SealKind,
    pub shamir: ShamirSettings,
    pub pkcs11: Pkcs11Settings,
}

/// The ways `[kms] seal` can seal the software keystore's root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SealKind {
    KeyFile,
    Shamir,
}

/// `[kms.shamir]`: how `rampart operator init` splits the root key: into
/// `shares` shares of which any `threshold` reconstruct it. The node takes
/// the threshold from what `init` recorded, since the shares carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShamirSettings {
    pub shares: u8,
    pub threshold: u8,
}

impl Default for ShamirSettings {
    fn default() -> Self {
        ShamirSettings { shares: 5, threshold: 3 }
    }
}

impl ShamirSettings {
    /// Checks a split: at least 2 shares are needed (one share would be the
    /// key itself, a key file with extra steps), and no more than exist.
    /// Share indexes are one byte, non-zero, hence at most 255 shares.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.threshold < 2 || self.threshold > self.shares {
            return Err(ConfigError::Invalid(format!(
                "kms.shamir needs 2 <= threshold <= shares <= 255 (got threshold {} of {} shares)",
                self.threshold, self.shares
            )));
        }
        Ok(())
    }
}

/// The keystores `[kms] keystore` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeystoreKind {
    Software,
    Pkcs11,
}

/// `[kms.pkcs11]`: the HSM holding the root wrapping key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pkcs11Settings {
    /// The PKCS#11 module (shared library) of the HSM.
    pub module: std::path::PathBuf,
    /// The label of the token holding the root key.
    pub token_label: String,
    /// The label of the root key on the token.
    pub key_label: String,
    /// A file holding the token's user PIN; refused if group- or
    /// world-readable. The PIN is never accepted inline in configuration.
    pub pin_file: Option<std::path::PathBuf>,
    /// Generate the root key inside the token when none has `key_label`.
    /// Turn off after the first start, so that a wrong token or label is an
    /// error rather than a fresh key that unwraps nothing stored.
    pub create_key_if_missing: bool,
}

impl Default for KmsConfig {
    fn default() -> Self {
        KmsConfig {
            region: "us-east-1".into(),
            keystore: KeystoreKind::Software,
            cache_entries: 10_000,
            cache_ttl_secs: 300,
            metadata_cache_ms: 1000,
            seal: SealKind::KeyFile,
            shamir: ShamirSettings::default(),
            pkcs11: Pkcs11Settings::default(),
        }
    }
}

impl Default for Pkcs11Settings {
    fn default() -> Self {
        Pkcs11Settings {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token_label: "rampart".into(),
            key_label: "rampart-kms-root".into(),
            pin_file: None,
            create_key_if_missing: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The log's origin line in checkpoints: names this deployment's log.
    /// Unset: `rampart/` and an id derived from the data directory's root
    /// secret, stable for the life of the data directory.
    pub origin: Option<String>,
    /// Witnesses (C2SP tlog-witness) each new checkpoint is sent to; their
    /// cosignatures are attached to the checkpoint served.
    pub witnesses: Vec<WitnessEndpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessEndpoint {
    /// The witness's submission prefix, e.g. `http://witness.example:7380`.
    pub url: String,
    /// The witness's cosigner verifier key (vkey form).
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTPS API and console listener.
    pub listen: SocketAddr,
    /// DNS names and IP addresses the server certificate is issued for.
    pub names: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Time allowed for one request, in seconds.
    pub request_timeout_secs: u64,
    /// Time allowed for a client to send its request headers, in seconds.
    pub header_read_timeout_secs: u64,
    /// Time given to in-flight requests on shutdown, in seconds.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://…` for a shared PostgreSQL; unset for the embedded SQLite
    /// database in the data directory.
    pub url: Option<String>,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `rampart_server=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a login session token, in seconds.
    pub session_ttl_secs: u64,
    /// Failed attempts per user or per source address before back-off.
    pub lockout_threshold: u32,
    /// Longest back-off, in seconds.
    pub lockout_max_secs: u64,
    /// Failures older than this no longer count, in seconds.
    pub lockout_window_secs: u64,
    /// Longest lifetime an API token may be given, in days.
    pub max_token_ttl_days: u32,
    /// How long a verified access key (its owner, role and secret) is
    /// reused for request signatures without reading the database. Revoking
    /// the key or disabling its owner takes effect at once on the node that
    /// does it, within this bound on the others; 0 reads it every time.
    pub access_key_cache_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A state change whose audit record is not durable within this bound
    /// is refused (fail-closed), in milliseconds.
    pub timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./rampart-data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
            ledger: LedgerConfig::default(),
            kms: KmsConfig::default(),
            ingest: IngestConfig::default(),
            bastion: BastionConfig::default(),
            secops: SecopsConfig::default(),
            detect: DetectConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, max_connections: 16 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into() }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_secs: 12 * 3600,
            lockout_threshold: 5,
            lockout_max_secs: 15 * 60,
            lockout_window_secs: 15 * 60,
            max_token_ttl_days: 365,
            access_key_cache_ms: 1000,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { timeout_ms: 2000 }
    }
}

/// A configuration that could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Builds the configuration from `file` (if any), the process environment
    /// and `flags` (a partial configuration, highest precedence).
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        let env = Env::prefixed("RAMPART_").split("__").filter(|key| {
            // Depending on figment's order of operations the key may or
            // may not be split yet: accept both separators.
            let key = key.as_str().to_ascii_lowercase();
            let key = key.as_str();
            SECTIONS
                .iter()
                .any(|s| key == *s || key.starts_with(&format!("{s}.")) || key.starts_with(&format!("{s}__")))
        });
        fig = fig.merge(env).merge(Serialized::defaults(flags));
        let config: Config = fig.extract().map_err(|e| ConfigError::Invalid(flatten(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.server.names.is_empty() {
            return bad("server.names must name at least one host for the certificate");
        }
        if self.server.body_limit_bytes < 1024 {
            return bad("server.body_limit_bytes must be at least 1024");
        }
        if self.server.request_timeout_secs == 0 || self.server.header_read_timeout_secs == 0 {
            return bad("server timeouts must be at least 1 second");
        }
        if self.auth.lockout_threshold == 0 {
            return bad("auth.lockout_threshold must be at least 1");
        }
        if self.audit.timeout_ms == 0 {
            return bad("audit.timeout_ms must be at least 1");
        }
        if let Some(url) = &self.database.url
            && !url.starts_with("postgres://")
            && !url.starts_with("postgresql://")
        {
            return bad("database.url must be a postgres:// URL (leave it unset for the embedded SQLite store)");
        }
        if let Some(origin) = &self.ledger.origin
            && (origin.is_empty() || origin.contains(char::is_whitespace) || origin.contains('+'))
        {
            return bad("ledger.origin must be non-empty, without spaces or '+'");
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections must be at least 1");
        }
        if self.kms.keystore == KeystoreKind::Pkcs11 && self.kms.pkcs11.pin_file.is_none() {
            return bad("kms.pkcs11.pin_file must name the file holding the token's user PIN");
        }
        if self.kms.cache_ttl_secs > 3600 {
            return bad("kms.cache_ttl_secs is at most 3600, so disabled keys stop working within an hour");
        }
        if self.kms.metadata_cache_ms > 10_000 {
            return bad("kms.metadata_cache_ms is at most 10000, so a key disabled on another node stops within 10 s");
        }
        if self.auth.access_key_cache_ms > 10_000 {
            return bad("auth.access_key_cache_ms is at most 10000, so a revoked access key stops within 10 s");
        }
        self.detect.validate()?;
        let ingest = &self.ingest;
        if !(1024..=16 * 1024 * 1024).contains(&ingest.max_message_bytes) {
            return bad("ingest.max_message_bytes must be between 1024 and 16777216");
        }
        if ingest.max_in_flight == 0 || ingest.udp_queue == 0 || ingest.max_sources == 0 || ingest.max_connections == 0
        {
            return bad(
                "ingest.max_in_flight, ingest.max_connections, ingest.udp_queue and ingest.max_sources must be at least 1",
            );
        }
        if ingest.silence_check_secs == 0 || ingest.retention_check_secs == 0 {
            return bad("ingest.silence_check_secs and ingest.retention_check_secs must be at least 1");
        }
        if ingest.tls_client_auth == ClientAuth::Required && ingest.tls.addr().is_none() {
            return bad("ingest.tls_client_auth = \"required\" needs the TLS listener (ingest.tls is \"off\")");
        }
        if let (Some(tcp), Some(tls)) = (ingest.tcp.addr(), ingest.tls.addr())
            && tcp == tls
            && tcp.port() != 0
        {
            return bad("ingest.tcp and ingest.tls cannot share one address");
        }
        if self.bastion.connect_timeout_secs == 0 || self.bastion.idle_timeout_secs == 0 {
            return bad("bastion timeouts must be at least 1 second");
        }
        if self.bastion.recording_max_bytes < 4096 {
            return bad("bastion.recording_max_bytes must be at least 4096");
        }
        if self.bastion.recording_retention_days > MAX_RECORDING_RETENTION_DAYS {
            return bad(
                "bastion.recording_retention_days must be at most 36500 (100 years); 0 keeps recordings forever",
            );
        }
        if let Err(e) = self.bastion.validate_env() {
            return bad(&e);
        }
        let b = &self.bastion;
        for (name, secs) in [
            ("jit_max_duration_secs", b.jit_max_duration_secs),
            ("jit_pending_timeout_secs", b.jit_pending_timeout_secs),
            ("lockbox_max_duration_secs", b.lockbox_max_duration_secs),
            ("lockbox_pending_timeout_secs", b.lockbox_pending_timeout_secs),
        ] {
            if secs == 0 || secs > BASTION_MAX_WINDOW_SECS {
                return bad(&format!("bastion.{name} must be between 1 and {BASTION_MAX_WINDOW_SECS} (90 days)"));
            }
        }
        // A certificate is valid for at least a minute; a maximum below
        // that would refuse every request.
        if !(60..=BASTION_MAX_WINDOW_SECS).contains(&b.ssh_cert_max_secs) {
            return bad(&format!(
                "bastion.ssh_cert_max_secs must be between 60 and {BASTION_MAX_WINDOW_SECS} (90 days)"
            ));
        }
        if self.kms.seal == SealKind::Shamir {
            if self.kms.keystore != KeystoreKind::Software {
                return bad(
                    "kms.seal = \"shamir\" seals the software keystore; the pkcs11 keystore's key stays in the HSM",
                );
            }
            self.kms.shamir.validate()?;
        }
        self.secops.validate()?;
        Ok(())
    }
}

/// The settings that command-line flags may override. `None` leaves the
/// lower layers alone.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseFlag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerFlag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogFlag>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseFlag {
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerFlag {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogFlag {
    pub format: Option<LogFormat>,
}

/// Joins figment's error chain into one line that names the bad key.
fn flatten(err: figment::Error) -> String {
    err.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // figment's Jail closure signature is fixed, its error type large.
    #[allow(clippy::result_large_err)]
    fn load_in_jail(toml: &str, env: &[(&str, &str)], flags: FlagOverrides) -> Result<Config, String> {
        let mut out = Err(String::new());
        figment::Jail::expect_with(|jail| {
            jail.create_file("rampart.toml", toml)?;
            for (k, v) in env {
                jail.set_env(k, v);
            }
            out = Config::load(Some(Path::new("rampart.toml")), &flags).map_err(|e| e.to_string());
            Ok(())
        });
        out
    }

    #[test]
    fn flags_override_env_which_overrides_file() {
        let toml = "data_dir = \"from-file\"\n[server]\nlisten = \"127.0.0.1:1000\"\n";
        let c = load_in_jail(toml, &[], FlagOverrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.data_dir, PathBuf::from("from-file"));
        assert_eq!(c.server.listen.port(), 1000);

        let c = load_in_jail(toml, &[("RAMPART_SERVER__LISTEN", "127.0.0.1:2000")], FlagOverrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.server.listen.port(), 2000, "env must override the file");

        let flags = FlagOverrides {
            server: Some(ServerFlag { listen: SocketAddr::from(([127, 0, 0, 1], 3000)) }),
            ..Default::default()
        };
        let c = load_in_jail(toml, &[("RAMPART_SERVER__LISTEN", "127.0.0.1:2000")], flags)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.server.listen.port(), 3000, "flags must override env");
    }

    #[test]
    fn the_ssh_certificate_maximum_is_at_least_a_minute_and_at_most_90_days() {
        assert_eq!(Config::default().bastion.ssh_cert_max_secs, 8 * 3600);
        for bad in ["0", "59", "7776001"] {
            let toml = format!("[bastion]\nssh_cert_max_secs = {bad}\n");
            let err = load_in_jail(&toml, &[], FlagOverrides::default());
            assert!(err.as_ref().is_err_and(|e| e.contains("ssh_cert_max_secs")), "{bad} must be refused: {err:?}");
        }
        let ok = load_in_jail("[bastion]\nssh_cert_max_secs = 3600\n", &[], FlagOverrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.bastion.ssh_cert_max_secs, 3600);
    }

    #[test]
    fn the_environment_allow_list_never_lets_shell_start_up_variables_through() {
        let c = Config::default();
        assert!(c.bastion.env_allowed("LANG") && c.bastion.env_allowed("LC_ALL"));
        assert!(!c.bastion.env_allowed("LD_PRELOAD") && !c.bastion.env_allowed("EDITOR"));
        for bad in ["*", "L*", "LD_PRELOAD", "BASH_*", "PROMPT_COMMAND", "1X", "A-B", ""] {
            let toml = format!("[bastion]\nenv_allow = [\"{bad}\"]\n");
            let err = load_in_jail(&toml, &[], FlagOverrides::default());
            assert!(err.as_ref().is_err_and(|e| e.contains("env_allow")), "{bad:?} must be refused: {err:?}");
        }
        let ok = load_in_jail(
            "[bastion]\nenv_allow = [\"EDITOR\", \"GIT_*\"]\nrecording_mode = \"async\"\n",
            &[],
            FlagOverrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.bastion.env_allowed("GIT_AUTHOR_NAME") && !ok.bastion.env_allowed("LANG"));
        assert_eq!(ok.bastion.recording_mode, RecordingMode::Async);
        assert!(load_in_jail("[bastion]\nrecording_mode = \"maybe\"\n", &[], FlagOverrides::default()).is_err());
        let kept = load_in_jail("[bastion]\nrecording_retention_days = 90\n", &[], FlagOverrides::default());
        assert_eq!(kept.map(|c| c.bastion.recording_retention_days).ok(), Some(90));
        for bad in ["36501", "-1", "\"90d\""] {
            let text = format!("[bastion]\nrecording_retention_days = {bad}\n");
            assert!(load_in_jail(&text, &[], FlagOverrides::default()).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn unknown_keys_are_rejected_in_file_and_env() {
        let err = load_in_jail("[server]\nlisen = \"x\"\n", &[], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("lisen")), "{err:?}");
        let err = load_in_jail("", &[("RAMPART_SERVER__LISTN", "x")], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("listn")), "{err:?}");
        // Variables outside the known sections belong to the CLI client.
        assert!(load_in_jail("", &[("RAMPART_URL", "https://x")], FlagOverrides::default()).is_ok());
    }

    #[test]
    fn invalid_values_are_rejected_with_the_key_named() {
        let err = load_in_jail("[database]\nurl = \"mysql://x\"\n", &[], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("database.url")), "{err:?}");
        let err = load_in_jail("[server]\nlisten = \"nonsense\"\n", &[], FlagOverrides::default());
        assert!(err.is_err());
        let missing = Config::load(Some(Path::new("/nonexistent/rampart.toml")), &FlagOverrides::default());
        assert!(matches!(missing, Err(ConfigError::Missing(_))));
    }

    #[test]
    fn detect_section_is_strict_and_bounded() {
        let c = load_in_jail("", &[], FlagOverrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.detect.enabled && c.detect.sigma_dir.is_none());
        assert_eq!(c.detect.packs, vec!["rampart-redline", "sigmahq"]);
        let c = load_in_jail(
            "[detect]\npacks = [\"rampart-redline\"]\nsigma_dir = \"/srv/sigma/rules\"\nmax_delay_ms = 100\n",
            &[],
            FlagOverrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.detect.packs.len(), c.detect.max_delay_ms), (1, 100));
        let err = load_in_jail("[detect]\npacks = [\"sigmahg\"]\n", &[], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("sigmahg")), "{err:?}");
        let err = load_in_jail("[detect]\nmax_delay_ms = 60000\n", &[], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("detect.max_delay_ms")), "{err:?}");
        let err = load_in_jail("[detect]\nrule_dirs = []\n", &[], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("rule_dirs")), "{err:?}");
        let c = load_in_jail("", &[("RAMPART_DETECT__ENABLED", "false")], FlagOverrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.detect.enabled);
    }

    #[test]
    fn lookup_caches_default_to_a_second_and_are_bounded() {
        let c = load_in_jail("", &[], FlagOverrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.kms.metadata_cache_ms, c.auth.access_key_cache_ms), (1000, 1000));
        let c = load_in_jail(
            "[kms]\nmetadata_cache_ms = 0\n[auth]\naccess_key_cache_ms = 0\n",
            &[],
            FlagOverrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.kms.metadata_cache_ms, c.auth.access_key_cache_ms), (0, 0));
        for (toml, key) in [
            ("[kms]\nmetadata_cache_ms = 10001\n", "kms.metadata_cache_ms"),
            ("[auth]\naccess_key_cache_ms = 60000\n", "auth.access_key_cache_ms"),
        ] {
            let err = load_in_jail(toml, &[], FlagOverrides::default());
            assert!(err.as_ref().is_err_and(|e| e.contains(key)), "{toml}: {err:?}");
        }
    }

    #[test]
    fn ingest_listeners_default_to_the_contract_ports_and_can_be_turned_off() {
        let c = load_in_jail("", &[], FlagOverrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ingest.udp.addr().map(|a| a.to_string()).as_deref(), Some("127.0.0.1:5514"));
        assert_eq!(c.ingest.tcp.addr().map(|a| a.to_string()).as_deref(), Some("127.0.0.1:5514"));
        assert_eq!(c.ingest.tls.addr().map(|a| a.to_string()).as_deref(), Some("127.0.0.1:6514"));
        assert_eq!(c.ingest.unknown_sources, UnknownSources::Register);
        let c = load_in_jail(
            "[ingest]\nudp = \"off\"\ntls = \"0.0.0.0:16514\"\nunknown_sources = \"hold\"\n",
            &[("RAMPART_INGEST__TCP", "off")],
            FlagOverrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.ingest.udp, c.ingest.tcp), (Listen::Off, Listen::Off));
        assert_eq!(c.ingest.tls.addr().map(|a| a.port()), Some(16514));
        assert_eq!(c.ingest.unknown_sources, UnknownSources::Hold);
        assert_eq!(c.ingest.tls_client_auth, ClientAuth::Off, "mutual TLS is asked for, never assumed");
        let c = load_in_jail("[ingest]\ntls_client_auth = \"required\"\n", &[], FlagOverrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ingest.tls_client_auth, ClientAuth::Required);
        for (toml, key) in [
            ("[ingest]\nudp = \"of\"\n", "of"),
            ("[ingest]\nunknown_sources = \"drop\"\n", "drop"),
            ("[ingest]\nmax_message_bytes = 10\n", "ingest.max_message_bytes"),
            ("[ingest]\ntcp = \"127.0.0.1:7000\"\ntls = \"127.0.0.1:7000\"\n", "share"),
            ("[ingest]\nport = 1\n", "port"),
            ("[ingest]\ntls_client_auth = \"maybe\"\n", "maybe"),
            ("[ingest]\ntls = \"off\"\ntls_client_auth = \"required\"\n", "tls_client_auth"),
            ("[ingest]\nretention_check_secs = 0\n", "retention_check_secs"),
        ] {
            let err = load_in_jail(toml, &[], FlagOverrides::default());
            assert!(err.as_ref().is_err_and(|e| e.contains(key)), "{toml}: {err:?}");
        }
    }

    #[test]
    fn the_secops_section_parses_as_documented_and_typos_are_named() {
        let toml = r#"
[secops]
dedup_window_secs = 600
escalation_queue = "escalations"
[secops.sla]
critical = { ack_mins = 5, resolve_mins = 60 }
informational = {}
[secops.outbox]
max_attempts = 3
[[secops.webhooks]]
name = "soc"
url = "https://hooks.example/rampart"
secret_file = "/etc/rampart/webhook-soc.secret"
min_severity = "high"
[secops.smtp]
host = "smtp.example"
username = "rampart"
password_file = "/etc/rampart/smtp.password"
from = "rampart@example"
to = ["soc@example"]
[secops.syslog]
address = "192.0.2.10:6514"
transport = "tls"
ca_file = "/etc/rampart/siem-ca.pem"
"#;
        let c = load_in_jail(toml, &[], FlagOverrides::default()).unwrap_or_else(|e| panic!("{e}"));
        let s = &c.secops;
        assert_eq!((s.dedup_window_secs, s.outbox.max_attempts, s.outbox.backoff_initial_ms), (600, 3, 1000));
        assert_eq!(s.sla.critical, secops::Sla { ack_mins: Some(5), resolve_mins: Some(60) });
        assert_eq!(s.sla.high, secops::SlaTable::default().high, "unset severities keep their defaults");
        assert_eq!(s.webhooks[0].min_severity, crate::alert::Severity::High);
        assert_eq!(s.webhooks[0].timeout_ms, 5000);
        assert_eq!(s.smtp.as_ref().map(|m| (m.port, m.security)), Some((587, secops::SmtpSecurity::Starttls)));
        assert_eq!(s.syslog.as_ref().map(|l| l.transport), Some(secops::SyslogTransport::Tls));
        let c = load_in_jail("", &[("RAMPART_SECOPS__DEDUP_WINDOW_SECS", "60")], FlagOverrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.secops.dedup_window_secs, 60, "the environment reaches [secops]");
        for (toml, key) in [
            ("[secops]\ndedup_windw_secs = 1\n", "dedup_windw_secs"),
            ("[secops.sla]\nurgent = {}\n", "urgent"),
            ("[secops.sla]\nlow = { ack_mins = 0 }\n", "secops.sla.low"),
            (
                "[secops.smtp]\nhost = \"h\"\nfrom = \"a@b\"\nto = [\"c@d\"]\nsecurity = \"none\"\nusername = \"u\"\npassword_file = \"/p\"\n",
                "without TLS",
            ),
            ("[[secops.webhooks]]\nname = \"x\"\nurl = \"http://example.com\"\nsecret_file = \"/s\"\n", "https"),
        ] {
            let err = load_in_jail(toml, &[], FlagOverrides::default());
            assert!(err.as_ref().is_err_and(|e| e.contains(key)), "{toml}: {err:?}");
        }
    }

    #[test]
    fn seal_defaults_to_the_key_file_and_shamir_splits_are_checked() {
        let c = load_in_jail("", &[], FlagOverrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.kms.seal, SealKind::KeyFile);
        assert_eq!(c.kms.shamir, ShamirSettings { shares: 5, threshold: 3 });
        let c = load_in_jail(
            "[kms]\nseal = \"shamir\"\n[kms.shamir]\nshares = 3\nthreshold = 2\n",
            &[],
            FlagOverrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.kms.seal, c.kms.shamir.shares, c.kms.shamir.threshold), (SealKind::Shamir, 3, 2));
        for bad in ["threshold = 1", "threshold = 6", "shares = 0", "shares = 256"] {
            let toml = format!("[kms]\nseal = \"shamir\"\n[kms.shamir]\n{bad}\n");
            let err = load_in_jail(&toml, &[], FlagOverrides::default());
            assert!(err.as_ref().is_err_and(|e| e.contains("kms.shamir") || e.contains("shares")), "{bad}: {err:?}");
        }
        let err = load_in_jail("[kms]\nseal = \"sharmir\"\n", &[], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("sharmir")), "{err:?}");
        let toml = "[kms]\nseal = \"shamir\"\nkeystore = \"pkcs11\"\n[kms.pkcs11]\npin_file = \"/x\"\n";
        let err = load_in_jail(toml, &[], FlagOverrides::default());
        assert!(err.as_ref().is_err_and(|e| e.contains("kms.seal")), "{err:?}");
    }
}
