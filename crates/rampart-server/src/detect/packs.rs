//! Rule packs and the catalog built from them: `rampart-redline` (Sigma
//! rules over Rampart's own events and ingested logs, embedded in the
//! binary), `sigmahq` (the SigmaHQ Linux, network, web and cloud rules,
//! read from `[detect] sigma_dir`, never shipped with Rampart) and
//! `custom` (`[detect] rules_dirs`). The catalog remembers which pack each
//! rule came from, and every rejected rule with its reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_core::config::DetectConfig;
use rampart_detect::{CompileOptions, Rejected, RuleSet, RuleSetBuilder};

/// Rampart's own pack.
pub const REDLINE: &str = "rampart-redline";
/// The SigmaHQ rules.
pub const SIGMAHQ: &str = "sigmahq";
/// Rules from `[detect] rules_dirs`.
pub const CUSTOM: &str = "custom";

/// The credit the Detection Rule License asks for, shown wherever SigmaHQ
/// rules are loaded (`rampart rules check`, `GET /api/v1/detect/rules`).
pub const DRL_CREDIT: &str = "SigmaHQ rules (https://github.com/SigmaHQ/sigma) by their authors, \
used under the Detection Rule License (DRL) 1.1 (https://github.com/SigmaHQ/Detection-Rule-License); \
each rule names its author(s).";

/// Label prefix of the embedded rules' paths.
const EMBEDDED: &str = "embedded:";

/// The `rampart-redline` pack, file by file.
pub const REDLINE_FILES: &[(&str, &str)] = &[
    ("brute_force.yml", include_str!("packs/redline/brute_force.yml")),
    ("privileged_role.yml", include_str!("packs/redline/privileged_role.yml")),
    ("second_factor.yml", include_str!("packs/redline/second_factor.yml")),
    ("kms.yml", include_str!("packs/redline/kms.yml")),
    ("ledger.yml", include_str!("packs/redline/ledger.yml")),
    ("source_silent.yml", include_str!("packs/redline/source_silent.yml")),
    ("mass_export.yml", include_str!("packs/redline/mass_export.yml")),
    ("bastion.yml", include_str!("packs/redline/bastion.yml")),
];

/// A compiled rule set and where each of its rules came from.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub rules: Arc<RuleSet>,
    /// Documents that did not become rules, with the reason.
    pub rejected: Vec<Rejected>,
    /// The pack of each detection rule, by index.
    pub rule_packs: Vec<&'static str>,
    /// The pack of each correlation rule, by index.
    pub correlation_packs: Vec<&'static str>,
    /// The SigmaHQ directories loaded (for the licence credit).
    pub sigma_dirs: Vec<PathBuf>,
}

impl Catalog {
    /// Loads the packs `config` enables. Never fails: unreadable
    /// directories and broken rules are listed in `rejected`.
    pub fn load(config: &DetectConfig) -> Catalog {
        let mut builder = RuleSetBuilder::new(CompileOptions::windows_evtx());
        let enabled = |p: &str| config.packs.iter().any(|q| q == p);
        if enabled(REDLINE) {
            for (name, text) in REDLINE_FILES {
                builder.add_yaml(format!("{EMBEDDED}{REDLINE}/{name}"), text);
            }
        }
        let mut sigma_dirs = Vec::new();
        if enabled(SIGMAHQ)
            && let Some(dir) = &config.sigma_dir
        {
            for category in &config.sigma_categories {
                let sub = dir.join(category);
                builder.add_dir(&sub);
                sigma_dirs.push(sub);
            }
        }
        for dir in &config.rules_dirs {
            builder.add_dir(dir);
        }
        let (rules, rejected) = builder.build();
        Catalog::new(rules, rejected, sigma_dirs)
    }

    /// A catalog of an already compiled set (tests, `rampart rules test`).
    pub fn new(rules: RuleSet, rejected: Vec<Rejected>, sigma_dirs: Vec<PathBuf>) -> Catalog {
        let pack = |path: Option<&Path>| -> &'static str {
            match path {
                Some(p) if p.to_string_lossy().starts_with(EMBEDDED) => REDLINE,
                Some(p) if sigma_dirs.iter().any(|d| p.starts_with(d)) => SIGMAHQ,
                _ => CUSTOM,
            }
        };
        let rule_packs = (0..rules.len()).map(|i| pack(rules.rule_path(i))).collect();
        let correlation_packs = rules.correlations().iter().map(|c| pack(Some(&c.path))).collect();
        Catalog { rules: Arc::new(rules), rejected, rule_packs, correlation_packs, sigma_dirs }
    }

    /// Whether any SigmaHQ rule is loaded (and the credit is due).
    pub fn has_sigmahq(&self) -> bool {
        self.rule_packs.contains(&SIGMAHQ) || self.correlation_packs.contains(&SIGMAHQ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redline_pack_compiles_without_rejections() {
        let config = DetectConfig { packs: vec![REDLINE.into()], ..DetectConfig::default() };
        let catalog = Catalog::load(&config);
        assert!(catalog.rejected.is_empty(), "{:?}", catalog.rejected);
        assert!(catalog.rules.len() >= 10, "{} rules", catalog.rules.len());
        assert_eq!(catalog.rules.correlations().len(), 3);
        assert!(catalog.rule_packs.iter().chain(&catalog.correlation_packs).all(|p| *p == REDLINE));
        for meta in catalog.rules.rules().chain(catalog.rules.correlations().iter().map(|c| c.meta.as_ref())) {
            assert!(meta.level.is_some(), "{} has no level", meta.title);
            assert!(meta.id.is_some(), "{} has no id", meta.title);
        }
        assert!(!catalog.has_sigmahq());
    }

    #[test]
    fn a_missing_sigma_directory_is_a_listed_rejection_not_an_error() {
        let config = DetectConfig {
            sigma_dir: Some("/nonexistent/sigma/rules".into()),
            sigma_categories: vec!["linux".into()],
            ..DetectConfig::default()
        };
        let catalog = Catalog::load(&config);
        assert_eq!(catalog.rejected.len(), 1, "{:?}", catalog.rejected);
        assert!(catalog.rejected[0].reason.to_string().contains("I/O error"));
    }
}
