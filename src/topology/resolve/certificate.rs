//! `setup_server.certificate`: a chain the lab issues, or a user's chain from PEM files,
//! and what the setup server and the clients do with it.

use std::path::Path;


use super::{KEY_NAMES, Resolver, suggest};
use crate::pki;
use crate::topology::error::Problem;
use crate::topology::model::{Certificate, CertificateRequest, CertificateSource, ChainPart, KeyKind};
use crate::topology::raw::{RawCertificate, Spanned};

const PATH: &str = "setup_server.certificate";
const DEFAULT_VALID_DAYS: u32 = 365;
/// Largest PEM file read: a chain of ten 4096-bit certificates is about 20 KB.
const MAX_PEM_FILE_LEN: u64 = 1024 * 1024;
/// The leaf starts a day in the past, so that a client clock slightly behind accepts it.
const DEFAULT_NOT_BEFORE_DAYS: i64 = -1;

pub(in crate::topology) const CHAIN_PARTS: &[(&str, ChainPart)] = &[
    ("full", ChainPart::Full),
    ("without-intermediate", ChainPart::WithoutIntermediate),
    ("without-root", ChainPart::WithoutRoot),
];

impl Resolver {
    /// Resolves the certificate; `base` is the folder that relative file names start from.
    pub(super) fn certificate(&mut self, spanned: &Spanned<RawCertificate>, base: &Path) -> Option<Certificate> {
        let raw = &spanned.value;
        let source = match &raw.chain_file {
            Some(chain_file) => self.certificate_files(raw, chain_file, base),
            None => self.issued_certificate(spanned).map(|request| (CertificateSource::Issued(request), 3)),
        };
        let send = self.chain_part(raw.send.as_ref());

        let ((source, length), send) = (source?, send?);
        if send == ChainPart::WithoutIntermediate && length < 3 {
            let at = raw.send.as_ref().expect("only an explicit send drops the intermediate");
            let problem = Problem::on(at, format!("{PATH}.send"), format!("the chain has {length} certificates, so it has no intermediate to leave out"));
            self.report(problem.help("use without-root, or a chain of leaf, intermediate and root"));
            return None;
        }
        Some(Certificate { source, send, untrusted_root: raw.untrusted_root.unwrap_or(false) })
    }

    fn issued_certificate(&mut self, spanned: &Spanned<RawCertificate>) -> Option<CertificateRequest> {
        let raw = &spanned.value;
        if let Some(key_file) = &raw.key_file {
            let problem = Problem::on(key_file, format!("{PATH}.key_file"), "key_file is set without chain_file");
            self.report(problem.help("set chain_file to the PEM chain of this key, or remove key_file"));
        }
        let Some(cn) = &raw.cn else {
            let problem = Problem::on(spanned, format!("{PATH}.cn"), "missing cn: the lab needs a common name to issue the provisioning certificate");
            self.report(problem.help("set cn, such as scs.example.com, or chain_file and key_file to use your own chain"));
            return None;
        };

        let cn_valid = self.certificate_cn(cn);
        let key = self.key_kind(raw.key.as_ref());
        let validity = self.validity(spanned);

        cn_valid.then_some(())?;
        let (not_before_days, not_after_days) = validity?;
        Some(CertificateRequest {
            cn: cn.value.to_ascii_lowercase(),
            ou: raw.ou.as_ref().map(|ou| ou.value.clone()),
            amt_setup_oid: raw.amt_setup_oid.unwrap_or(true),
            server_auth: raw.server_auth.unwrap_or(true),
            key: key?,
            not_before_days,
            not_after_days,
        })
    }

    fn certificate_cn(&mut self, cn: &Spanned<String>) -> bool {
        let base = cn.value.strip_prefix("*.").unwrap_or(&cn.value);
        match crate::topology::DomainName::parse(base) {
            // A top-level label of digits only makes an IPv4 address, which the firmware's
            // domain rule never matches.
            Ok(name) if name.as_str().rsplit('.').next().is_some_and(|label| label.chars().all(|c| c.is_ascii_digit())) => {
                let problem = Problem::on(cn, format!("{PATH}.cn"), format!("invalid certificate CN {:?}: an IP address, not a domain name", cn.value));
                self.report(problem.help("use the setup server's FQDN, such as scs.example.com"));
                false
            }
            Ok(_) => true,
            Err(why) => {
                let problem = Problem::on(cn, format!("{PATH}.cn"), format!("invalid certificate CN {:?}: {why}", cn.value));
                self.report(problem.help("use a domain name such as scs.example.com, or *.example.com for a wildcard"));
                false
            }
        }
    }

    fn key_kind(&mut self, raw: Option<&Spanned<String>>) -> Option<KeyKind> {
        let Some(key) = raw else { return Some(KeyKind::Rsa2048) };
        if let Some((_, kind)) = KEY_NAMES.iter().find(|(name, _)| *name == key.value) {
            return Some(*kind);
        }

        let names: Vec<&str> = KEY_NAMES.iter().map(|(name, _)| *name).collect();
        let problem = Problem::on(key, format!("{PATH}.key"), format!("unknown key type {:?}", key.value));
        self.report(problem.help(suggest(&key.value, &names)));
        None
    }

    /// Resolves the leaf's validity as day offsets from the lab's start.
    fn validity(&mut self, spanned: &Spanned<RawCertificate>) -> Option<(i64, i64)> {
        let raw = &spanned.value;
        let not_before = raw.not_before_days.as_ref().map_or(DEFAULT_NOT_BEFORE_DAYS, |days| days.value);
        let not_after = match (&raw.valid_days, &raw.not_after_days) {
            (Some(_), Some(not_after)) => {
                let problem = Problem::on(not_after, format!("{PATH}.not_after_days"), "not_after_days and valid_days both set the end of the validity");
                self.report(problem.help("keep one of them"));
                return None;
            }
            (None, Some(not_after)) => not_after.value,
            (Some(valid_days), None) => i64::from(valid_days.value),
            (None, None) => i64::from(DEFAULT_VALID_DAYS),
        };

        // The schema keeps both offsets within a century either way.
        if not_before >= not_after {
            let (key, location) = match (&raw.not_before_days, &raw.not_after_days) {
                (Some(days), _) => ("not_before_days", days.referenced),
                (None, Some(days)) => ("not_after_days", days.referenced),
                (None, None) => ("valid_days", spanned.referenced),
            };
            let problem = Problem::at(&location, format!("{PATH}.{key}"), format!("the leaf would be valid from day {not_before} to day {not_after}, an empty period"));
            self.report(problem.help("make not_before_days smaller than the end of the validity (valid_days or not_after_days)"));
            return None;
        }
        Some((not_before, not_after))
    }

    fn chain_part(&mut self, raw: Option<&Spanned<String>>) -> Option<ChainPart> {
        let Some(send) = raw else { return Some(ChainPart::Full) };
        if let Some((_, part)) = CHAIN_PARTS.iter().find(|(name, _)| *name == send.value) {
            return Some(*part);
        }

        let names: Vec<&str> = CHAIN_PARTS.iter().map(|(name, _)| *name).collect();
        let problem = Problem::on(send, format!("{PATH}.send"), format!("unknown chain part {:?}", send.value));
        self.report(problem.help(suggest(&send.value, &names)));
        None
    }

    /// Loads a user's chain and key now, so that a wrong file is reported with its place
    /// in the topology; returns the source and the chain's length.
    fn certificate_files(&mut self, raw: &RawCertificate, chain_file: &Spanned<String>, base: &Path) -> Option<(CertificateSource, usize)> {
        self.reject_issue_settings(raw, chain_file);
        let Some(key_file) = &raw.key_file else {
            let problem = Problem::on(chain_file, format!("{PATH}.chain_file"), "chain_file is set without key_file");
            self.report(problem.help("set key_file to the PEM private key of the chain's leaf"));
            return None;
        };

        let chain_path = base.join(&chain_file.value);
        let key_path = base.join(&key_file.value);
        let chain_ok = self.pem_file(chain_file, &chain_path, "chain_file");
        let key_ok = self.pem_file(key_file, &key_path, "key_file");
        (chain_ok && key_ok).then_some(())?;

        let chain = pki::load_pem_chain(&chain_path).map_err(|error| self.report(Problem::on(chain_file, format!("{PATH}.chain_file"), error.to_string())));
        let key = pki::load_pem_key(&key_path).map_err(|error| self.report(Problem::on(key_file, format!("{PATH}.key_file"), error.to_string())));

        let (chain, _key) = (chain.ok()?, key.ok()?);
        Some((CertificateSource::Files { chain: chain_path, key: key_path }, chain.len()))
    }

    /// Checks that a PEM file named in the topology is a regular file of sane size before
    /// it is read whole, so that `/dev/zero` or a FIFO cannot hang the check.
    fn pem_file(&mut self, raw: &Spanned<String>, path: &Path, key: &str) -> bool {
        let message = match std::fs::metadata(path) {
            // procfs files report 0 bytes, and some of them block a reader.
            Ok(metadata) if metadata.is_file() && metadata.len() == 0 => format!("{} is empty", path.display()),
            Ok(metadata) if metadata.is_file() && metadata.len() <= MAX_PEM_FILE_LEN => return true,
            Ok(metadata) if metadata.is_file() => format!("{} has {} bytes, more than the {MAX_PEM_FILE_LEN} a PEM chain or key needs", path.display(), metadata.len()),
            Ok(_) => format!("{} is not a regular file", path.display()),
            Err(error) => format!("cannot read {}: {error}", path.display()),
        };
        self.report(Problem::on(raw, format!("{PATH}.{key}"), message));
        false
    }

    /// Reports every setting that only applies to a chain the lab issues.
    fn reject_issue_settings(&mut self, raw: &RawCertificate, chain_file: &Spanned<String>) {
        let spanned = [
            ("cn", raw.cn.as_ref().map(|value| value.referenced)),
            ("ou", raw.ou.as_ref().map(|value| value.referenced)),
            ("key", raw.key.as_ref().map(|value| value.referenced)),
            ("valid_days", raw.valid_days.as_ref().map(|value| value.referenced)),
            ("not_before_days", raw.not_before_days.as_ref().map(|value| value.referenced)),
            ("not_after_days", raw.not_after_days.as_ref().map(|value| value.referenced)),
            ("amt_setup_oid", raw.amt_setup_oid.map(|_| chain_file.referenced)),
            ("server_auth", raw.server_auth.map(|_| chain_file.referenced)),
        ];
        for (key, location) in spanned {
            if let Some(location) = location {
                let problem = Problem::at(&location, format!("{PATH}.{key}"), format!("{key} applies to a certificate the lab issues, not to chain_file"));
                self.report(problem.help(format!("remove {key}, or remove chain_file and key_file to let the lab issue the chain")));
            }
        }
    }
}
