//! A client's `mebx` settings and `hello` schedule.

use std::net::Ipv4Addr;


use super::{Resolver, suggest};
use crate::amt::hello::{CertHash, HashAlgorithm};
use crate::amt::profile::FirmwareProfile;
use crate::amt::schedule::{self, HelloSchedule};
use crate::topology::error::Problem;
use crate::topology::model::{DomainName, Mebx, SetupServerAddress};
use crate::topology::raw::{RawCustomHash, RawHello, RawMebx, Spanned};

const ALGORITHM_NAMES: &[(&str, HashAlgorithm)] =
    &[("sha-1", HashAlgorithm::Sha1), ("sha-256", HashAlgorithm::Sha256), ("sha-384", HashAlgorithm::Sha384)];

pub(in crate::topology) const SCHEDULE_NAMES: &[&str] = &["lab-fast", "firmware"];

impl Resolver {
    /// Resolves a client's MEBx settings. `profile` is `None` when the firmware version
    /// is invalid, which was reported already; `root_offered` says whether the lab adds
    /// its root's hash unless the client opts out.
    pub(super) fn mebx(&mut self, raw: Option<&Spanned<RawMebx>>, profile: Option<&FirmwareProfile>, root_offered: bool, path: &str) -> Option<Mebx> {
        let Some(raw) = raw else {
            return Some(Mebx { trust_lab_root: root_offered, ..Mebx::default() });
        };
        let path = format!("{path}.mebx");

        let suffix = raw.value.pki_dns_suffix.as_ref().map(|suffix| self.pki_dns_suffix(suffix, &path));
        let setup_server = raw.value.setup_server.as_ref().map(|server| self.setup_server_address(server, &path));
        let hashes: Vec<Option<CertHash>> =
            raw.value.custom_hashes.iter().enumerate().map(|(index, hash)| self.custom_hash(hash, profile, &format!("{path}.custom_hashes[{index}]"))).collect();
        let trust_lab_root = raw.value.trust_lab_root.unwrap_or(true) && root_offered;

        if let Some(profile) = profile {
            self.check_hash_count(raw, profile, hashes.len() + usize::from(trust_lab_root), &path);
        }
        Some(Mebx {
            pki_dns_suffix: suffix.transpose().ok()?.flatten(),
            setup_server: setup_server.transpose().ok()?,
            custom_hashes: hashes.into_iter().collect::<Option<_>>()?,
            trust_lab_root,
        })
    }

    /// Trims the PKI DNS suffix. Blank and "." mean unset, as MEBx treats them.
    fn pki_dns_suffix(&mut self, raw: &Spanned<String>, path: &str) -> Result<Option<DomainName>, ()> {
        let trimmed = raw.value.trim();
        if trimmed.is_empty() || trimmed == "." {
            return Ok(None);
        }

        DomainName::parse(trimmed).map(Some).map_err(|why| {
            let problem = Problem::on(raw, format!("{path}.pki_dns_suffix"), format!("invalid PKI DNS suffix {:?}: {why}", raw.value));
            self.report(problem.help("write a domain such as jcert.info, or leave it blank for unset"));
        })
    }

    fn setup_server_address(&mut self, raw: &Spanned<String>, path: &str) -> Result<SetupServerAddress, ()> {
        let trimmed = raw.value.trim();
        if let Ok(address) = trimmed.parse::<Ipv4Addr>() {
            return Ok(SetupServerAddress::Address(address));
        }

        // A name of digits and dots only is a mistyped address, not a host name.
        let looks_numeric = trimmed.chars().all(|c| c.is_ascii_digit() || c == '.');
        match DomainName::parse(trimmed) {
            Ok(fqdn) if !looks_numeric => Ok(SetupServerAddress::Fqdn(fqdn)),
            _ => {
                let problem = Problem::on(raw, format!("{path}.setup_server"), format!("invalid setup server {:?}: neither an IPv4 address nor an FQDN", raw.value));
                self.report(problem.help("write an address such as 192.168.90.20 or an FQDN such as scs.jcert.info"));
                Err(())
            }
        }
    }

    fn custom_hash(&mut self, raw: &Spanned<RawCustomHash>, profile: Option<&FirmwareProfile>, path: &str) -> Option<CertHash> {
        let algorithm_text = raw.value.algorithm.value.to_ascii_lowercase().replace("sha1", "sha-1").replace("sha256", "sha-256").replace("sha384", "sha-384");
        let Some(&(_, algorithm)) = ALGORITHM_NAMES.iter().find(|(name, _)| *name == algorithm_text) else {
            let names: Vec<&str> = ALGORITHM_NAMES.iter().map(|(name, _)| *name).collect();
            let problem = Problem::on(&raw.value.algorithm, format!("{path}.algorithm"), format!("unknown hash algorithm {:?}", raw.value.algorithm.value));
            self.report(problem.help(suggest(&algorithm_text, &names)));
            return None;
        };

        if let Some(profile) = profile.filter(|profile| !profile.trusts_algorithm(algorithm)) {
            let problem = Problem::on(&raw.value.algorithm, format!("{path}.algorithm"), format!("{profile} does not store {} hashes in its trusted list", algorithm.name()));
            self.report(problem.help("add the SHA-256 hash of the root instead"));
            return None;
        }
        self.hash_digest(&raw.value.hash, algorithm, &format!("{path}.hash"))
    }

    /// Parses hex digits, allowing the `:` and space separators certificate viewers print.
    fn hash_digest(&mut self, raw: &Spanned<String>, algorithm: HashAlgorithm, path: &str) -> Option<CertHash> {
        let digits: String = raw.value.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
        let bytes = match hex::decode(&digits) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.report(Problem::on(raw, path, format!("invalid hash {:?}: {error}", raw.value)));
                return None;
            }
        };

        let len = bytes.len();
        let hash = CertHash::new(algorithm, bytes);
        if hash.is_none() {
            let problem = Problem::on(raw, path, format!("the hash has {len} bytes, but {} has {}", algorithm.name(), algorithm.digest_len()));
            self.report(problem.help("check the algorithm, or copy the whole fingerprint"));
        }
        hash
    }

    fn check_hash_count(&mut self, raw: &Spanned<RawMebx>, profile: &FirmwareProfile, count: usize, path: &str) {
        if count <= profile.max_custom_hashes {
            return;
        }
        let problem = Problem::on(raw, format!("{path}.custom_hashes"), format!("{count} custom hashes, but {profile} holds at most {}", profile.max_custom_hashes));
        self.report(problem.help("remove hashes; the lab root's hash counts as one unless trust_lab_root is false"));
    }

    /// Resolves the hello schedule; the lab-fast one when the client sets none.
    pub(super) fn hello(&mut self, raw: Option<&Spanned<RawHello>>, profile: Option<&FirmwareProfile>, path: &str) -> Option<HelloSchedule> {
        let Some(raw) = raw else { return Some(HelloSchedule::LAB_FAST) };
        let path = format!("{path}.hello");

        match raw.value.schedule.value.as_str() {
            "lab-fast" => {
                if let Some(window) = &raw.value.window {
                    let problem = Problem::on(window, format!("{path}.window"), "window applies to the firmware schedule only");
                    self.report(problem.help("remove window, or set schedule: firmware"));
                    return None;
                }
                Some(HelloSchedule::LAB_FAST)
            }
            "firmware" => self.firmware_schedule(raw.value.window.as_ref(), profile, &path),
            other => {
                let problem = Problem::on(&raw.value.schedule, format!("{path}.schedule"), format!("unknown hello schedule {other:?}"));
                self.report(problem.help(suggest(other, SCHEDULE_NAMES)));
                None
            }
        }
    }

    fn firmware_schedule(&mut self, window: Option<&Spanned<String>>, profile: Option<&FirmwareProfile>, path: &str) -> Option<HelloSchedule> {
        let Some(window) = window else { return profile.map(|profile| profile.hello_schedule) };

        match humantime::parse_duration(&window.value) {
            Ok(duration) if (schedule::MIN_WINDOW..=schedule::MAX_WINDOW).contains(&duration) => Some(HelloSchedule::Firmware { window: duration }),
            _ => {
                let problem = Problem::on(window, format!("{path}.window"), format!("invalid hello window {:?}: the firmware accepts 6h to 255h", window.value));
                self.report(problem.help("write a duration such as 24h"));
                None
            }
        }
    }
}
