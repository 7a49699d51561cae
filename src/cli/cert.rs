//! `cert check`: apply the firmware's certificate rules to a provisioning chain from a
//! file, and print every rule with its evidence.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::{Args as ClapArgs, Subcommand};
use rustls_pki_types::CertificateDer;
use vprolab::amt::checks::{ChainReport, check_chain};
use vprolab::amt::hello::{CertHash, HashAlgorithm};
use vprolab::amt::profile::FirmwareProfile;
use vprolab::pki;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::CliError;
use super::write_stdout;
use crate::exit;

/// Environment variable `cert check` reads a PKCS#12 password from.
pub(crate) const PFX_PASSWORD_VAR: &str = "VPROLAB_PFX_PASSWORD";

/// Largest certificate file read: real chains are a few kilobytes.
const MAX_CERT_FILE: u64 = 1024 * 1024;

#[derive(Debug, Subcommand)]
pub(crate) enum CertCommand {
    /// Check a provisioning certificate chain the way an ME of a firmware release does;
    /// exit 0 only when it would accept it
    Check(CheckArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct CheckArgs {
    /// PEM chain, leaf first, or a PKCS#12 (PFX) file, whose password comes from the
    /// VPROLAB_PFX_PASSWORD environment variable or a prompt
    file: PathBuf,

    /// DNS suffix the ME would compare: the PKI DNS suffix set in MEBx, or option 15
    #[arg(long, value_name = "DOMAIN")]
    suffix: String,

    /// Firmware version whose rules apply, such as 4.1.1, 11.8 or 16.1
    #[arg(long, value_name = "VERSION", default_value = "16.1")]
    firmware: String,

    /// PEM file of root certificates; the hash of each is added to the trusted list, as
    /// MEBx or a USB setup file adds one; repeatable
    #[arg(long = "trust-root", value_name = "FILE")]
    trust_roots: Vec<PathBuf>,

    /// Hash added to the trusted list as ALGORITHM:HEX, such as sha256:1465fa20...;
    /// algorithms sha1, sha256, sha384; repeatable
    #[arg(long = "trust-hash", value_name = "ALG:HEX")]
    trust_hashes: Vec<String>,
}

pub(crate) fn run(command: &CertCommand) -> Result<u8, CliError> {
    match command {
        CertCommand::Check(args) => check(args),
    }
}

fn check(args: &CheckArgs) -> Result<u8, CliError> {
    let profile = FirmwareProfile::parse(&args.firmware).map_err(|error| CliError::Input(error.to_string()))?;
    let chain = read_chain(&args.file)?;
    let custom = custom_hashes(args, &profile)?;

    let mut trusted = profile.default_hashes();
    trusted.extend(custom.iter().cloned());
    let report = check_chain(&profile, &trusted, &args.suffix, &chain, SystemTime::now());

    write_stdout(&describe(args, &profile, &chain, custom.len(), &report));
    Ok(if report.result.is_ok() { exit::OK } else { exit::UNEXPECTED })
}

/// Reads a PEM chain, or a PKCS#12 file when the file holds no PEM block.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CliError> {
    let unreadable = |error: std::io::Error| CliError::Input(format!("cannot read {}: {error}", path.display()));
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > MAX_CERT_FILE {
        return Err(CliError::Input(format!("{} is {len} bytes, larger than any certificate chain ({MAX_CERT_FILE} bytes at most)", path.display())));
    }

    let bytes = std::fs::read(path).map_err(unreadable)?;
    let is_pem = bytes.windows(11).any(|window| window == b"-----BEGIN ");
    if !is_pem && !looks_like_pkcs12(&bytes) {
        return Err(CliError::Input(format!("{} is neither a PEM certificate chain nor a PKCS#12 file: give the setup server's chain, leaf first, in PEM or as a .pfx", path.display())));
    }
    let chain = if is_pem { pki::load_pem_chain(path) } else { pki::load_pkcs12_chain(path, &pfx_password(path)?) };
    chain.map_err(|error| CliError::Input(error.to_string()))
}

/// Checks how a PKCS#12 file starts (RFC 7292, PFX): a DER SEQUENCE whose first element
/// is the INTEGER version 3. Enough to tell a .pfx from a hello capture or a text file
/// before asking for a password; the PKCS#12 parser checks the rest.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    let Some((&0x30, rest)) = bytes.split_first() else { return false };
    let Some((&length, rest)) = rest.split_first() else { return false };
    // A long-form length gives the number of length bytes that follow in its low bits.
    let skip = if length & 0x80 == 0 { 0 } else { usize::from(length & 0x7f) };
    rest.get(skip..skip + 3) == Some(&[0x02, 0x01, 0x03][..])
}

/// Takes the PKCS#12 password from the environment, or prompts for it without echo. It is
/// never a command-line argument, which other users could read in the process list.
fn pfx_password(path: &Path) -> Result<String, CliError> {
    if let Ok(password) = std::env::var(PFX_PASSWORD_VAR) {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Input(format!("{} is a PKCS#12 file: set {PFX_PASSWORD_VAR} to its password, or run in a terminal to be asked for it", path.display())));
    }

    rpassword::prompt_password(format!("password for {}: ", path.display())).map_err(|error| CliError::Input(format!("cannot read the PKCS#12 password: {error}")))
}

/// Collects the hashes of `--trust-root` and `--trust-hash`. A root's hash is taken as
/// MEBx stores it: SHA-256 where the firmware compares SHA-256, else SHA-1.
fn custom_hashes(args: &CheckArgs, profile: &FirmwareProfile) -> Result<Vec<CertHash>, CliError> {
    let algorithm = if profile.trusts_algorithm(HashAlgorithm::Sha256) { HashAlgorithm::Sha256 } else { HashAlgorithm::Sha1 };
    let mut hashes = Vec::new();

    for path in &args.trust_roots {
        let certs = pki::load_pem_chain(path).map_err(|error| CliError::Input(error.to_string()))?;
        hashes.extend(certs.iter().map(|cert| CertHash::of_der(algorithm, cert)));
    }
    for text in &args.trust_hashes {
        hashes.push(parse_trust_hash(text)?);
    }
    Ok(hashes)
}

fn parse_trust_hash(text: &str) -> Result<CertHash, CliError> {
    let invalid = |why: &str| CliError::Input(format!("invalid --trust-hash {text:?}: {why}; write ALGORITHM:HEX, such as sha256:1465fa20..."));
    let (name, digits) = text.split_once(':').ok_or_else(|| invalid("no ':' after the algorithm"))?;

    let algorithm = match name.to_ascii_lowercase().replace('-', "").as_str() {
        "sha1" => HashAlgorithm::Sha1,
        "sha256" => HashAlgorithm::Sha256,
        "sha384" => HashAlgorithm::Sha384,
        _ => return Err(invalid("unknown algorithm, expected sha1, sha256 or sha384")),
    };
    let digits: String = digits.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
    let bytes = hex::decode(&digits).map_err(|_| invalid("the hash is not hex"))?;
    CertHash::new(algorithm, bytes).ok_or_else(|| invalid(&format!("{} needs {} bytes", algorithm.name(), algorithm.digest_len())))
}

fn describe(args: &CheckArgs, profile: &FirmwareProfile, chain: &[CertificateDer<'_>], custom: usize, report: &ChainReport) -> String {
    let mut out = String::new();

    let _ = writeln!(out, "chain {} ({})", args.file.display(), vprolab::report::counted(chain.len(), "certificate"));
    for (index, der) in chain.iter().enumerate() {
        let _ = writeln!(out, "  {index}  {}", describe_certificate(der));
    }
    let _ = writeln!(out, "firmware {}", describe_profile(profile));
    let _ = writeln!(out, "trusted list: {} default hashes, {custom} custom", profile.default_hashes().len());
    let _ = writeln!(out, "DNS suffix: {}\n", args.suffix);

    for check in &report.checks {
        let _ = writeln!(out, "  {}  {:<16}  {}", if check.passed { "pass" } else { "FAIL" }, check.rule, check.evidence);
    }

    let _ = match &report.result {
        Ok(accepted) => writeln!(out, "\nACCEPTED by {profile}: root {} matched {}; domain: {}", accepted.root_subject, accepted.matched, accepted.domain_rule),
        Err(refusal) => writeln!(out, "\nREJECTED by {profile} ({}): {refusal}", refusal.code()),
    };
    out
}

fn describe_certificate(der: &CertificateDer<'_>) -> String {
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => {
            let validity = cert.validity();
            format!("{}, issued by {}, valid {} to {}", cert.subject(), cert.issuer(), validity.not_before, validity.not_after)
        }
        Err(error) => format!("not X.509: {error}"),
    }
}

fn describe_profile(profile: &FirmwareProfile) -> String {
    let algorithms: Vec<&str> = profile.trusted_algorithms.iter().map(|algorithm| algorithm.name()).collect();
    let sha1 = if profile.sha1_signatures_rejected { "rejected" } else { "accepted" };
    format!(
        "{}: root hashes compared as {}, RSA {} to {} bits, ECDSA {}, SHA-1 signatures {sha1}, domain rule {}",
        profile.version,
        algorithms.join(", "),
        profile.min_rsa_bits,
        profile.max_rsa_bits,
        if profile.ecdsa_accepted { "accepted" } else { "rejected" },
        profile.domain,
    )
}
