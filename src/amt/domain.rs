//! The domain rule: whether the ME's DNS suffix matches the provisioning certificate.
//!
//! The suffix is the PKI DNS suffix from MEBx or the option 15 domain of the lease. The
//! names are the leaf's CN and its SAN DNS names. Comparison is ASCII case-insensitive
//! and ignores one trailing dot, as DNS does.
//!
//! The base rule: the suffix is a label-boundary suffix of the name (`jcert.info` matches
//! `scs.jcert.info`, never `xjcert.info`). From AMT 2.6 the ME also accepts a name in the
//! same second-level domain as the suffix for .com and .net, and from 4.1 and 5.1 for
//! every top-level domain, so `mtkg.jcert.info` matches `*.jcert.info`. A wildcard CN
//! `*.d` is the name `d`.

use std::fmt;

use serde::Serialize;

/// Matches a release accepts beyond the base rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DomainRule {
    /// Only the base rule: the suffix is a label-boundary suffix of the name.
    SuffixOnly,
    /// Base rule, or the same second-level domain under .com or .net (AMT 2.6 on).
    SecondLevelComNet,
    /// Base rule, or the same second-level domain under any top-level domain (AMT 4.1
    /// and 5.1 on).
    SecondLevelAnyTld,
}

/// How many labels make the "second-level domain" under a country-code TLD.
///
/// Intel documents no depth for domains such as co.uk, so this is a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CountryDomains {
    /// Three labels under the TLDs of [`THREE_LABEL_TLDS`], two elsewhere.
    DepthTable,
    /// Two labels under every TLD, the literal reading of "second-level domain".
    TwoLabels,
}

/// The domain rule of one firmware profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DomainPolicy {
    pub rule: DomainRule,
    pub country_domains: CountryDomains,
}

/// Country-code TLDs under which registrations sit mostly below a category label
/// (co.uk, co.jp, com.au), so the registered domain has three labels.
///
/// This table is this project's reading, not Intel's: it lists ccTLDs whose registries
/// use category second-level labels. Several of them (uk, jp, au, nz) now also register
/// directly below the TLD, and a two-label suffix there gets only the base rule.
pub const THREE_LABEL_TLDS: &[&str] = &[
    "ar", "au", "br", "cn", "eg", "hk", "id", "il", "jp", "ke", "kr", "mx", "my", "ng", "nz", "ph", "pk", "sg", "th",
    "tr", "tw", "uk", "vn", "za",
];

/// Top-level domains that only exist inside private networks, so no public CA issues
/// certificates for them. They come from RFC 6762 (local) and RFC 6761 (localhost,
/// invalid, test), plus names ICANN will not delegate (corp, home, lan, internal,
/// intranet, private, localdomain). RFC 8375's home.arpa is checked apart.
pub const INTERNAL_TLDS: &[&str] =
    &["local", "localhost", "localdomain", "invalid", "test", "corp", "home", "lan", "internal", "intranet", "private"];

/// Kind of match between a certificate name and the suffix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MatchKind {
    /// The name equals the suffix.
    Exact,
    /// The suffix is a label-boundary suffix of the name.
    Suffix,
    /// Both are in the same second-level domain.
    SecondLevel { domain: String },
}

/// The certificate name that matched, as written in the certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainMatch {
    pub name: String,
    pub kind: MatchKind,
}

/// Reason no certificate name matched the suffix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainRefusal {
    #[error("invalid DNS suffix {suffix:?}: {why}")]
    InvalidSuffix { suffix: String, why: &'static str },

    #[error(
        "DNS suffix {suffix:?} is an internal name, which no certificate from a public root matches (names {names:?}): use a public domain or trust a private root"
    )]
    InternalName { suffix: String, names: Vec<String> },

    #[error("no certificate name matches DNS suffix {suffix:?} (names {names:?}, rule: {rule})")]
    Mismatch { suffix: String, names: Vec<String>, rule: String },
}

/// A domain name split into lowercase labels, wildcard label removed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Labels(Vec<String>);

impl Labels {
    /// Splits a DNS name. A leading `*` label is dropped because a wildcard CN `*.d`
    /// stands for `d`. Returns `None` for anything that is not a host name.
    fn parse(name: &str) -> Option<Self> {
        let trimmed = name.strip_suffix('.').unwrap_or(name);
        let trimmed = trimmed.strip_prefix("*.").unwrap_or(trimmed);
        if trimmed.is_empty() {
            return None;
        }

        let labels: Vec<String> = trimmed.split('.').map(str::to_ascii_lowercase).collect();
        labels.iter().all(|label| is_label(label)).then_some(Self(labels))
    }

    fn tld(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or_default()
    }

    fn ends_with(&self, suffix: &Labels) -> bool {
        self.0.ends_with(&suffix.0)
    }

    /// Returns the last `depth` labels, or `None` when the name has fewer.
    fn registered(&self, depth: usize) -> Option<&[String]> {
        self.0.len().checked_sub(depth).map(|start| &self.0[start..])
    }

    fn is_internal(&self) -> bool {
        INTERNAL_TLDS.contains(&self.tld()) || self.0.ends_with(&["home".to_owned(), "arpa".to_owned()])
    }
}

/// Letters, digits, hyphens and underscores: underscores appear in real internal
/// names, and no other character belongs in a host name.
fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

impl DomainPolicy {
    /// Finds the first certificate name that matches `suffix`.
    ///
    /// `public_root` is true when the chain ends at an embedded default root, and then
    /// an internal suffix never matches.
    pub fn check(&self, suffix: &str, names: &[String], public_root: bool) -> Result<DomainMatch, DomainRefusal> {
        let suffix_labels = self.parse_suffix(suffix)?;
        if public_root && suffix_labels.is_internal() {
            return Err(DomainRefusal::InternalName { suffix: suffix.to_owned(), names: names.to_vec() });
        }

        names.iter().find_map(|name| self.match_name(&suffix_labels, name)).ok_or_else(|| DomainRefusal::Mismatch {
            suffix: suffix.to_owned(),
            names: names.to_vec(),
            rule: self.to_string(),
        })
    }

    fn parse_suffix(&self, suffix: &str) -> Result<Labels, DomainRefusal> {
        let invalid = |why| DomainRefusal::InvalidSuffix { suffix: suffix.to_owned(), why };

        if suffix.starts_with('*') {
            return Err(invalid("a DNS suffix has no wildcard"));
        }
        let labels = Labels::parse(suffix).ok_or_else(|| invalid("not a domain name"))?;

        // A bare TLD would match every name registered under it. Under a three-label
        // ccTLD a two-label suffix may be a registered domain (example.uk) or a category
        // (co.uk), which only a public suffix list distinguishes, so it passes here and
        // gets only the base rule.
        if labels.0.len() < 2 {
            return Err(invalid("a top-level domain alone, not a registered domain"));
        }
        Ok(labels)
    }

    fn match_name(&self, suffix: &Labels, name: &str) -> Option<DomainMatch> {
        let labels = Labels::parse(name)?;
        let found = |kind| Some(DomainMatch { name: name.to_owned(), kind });

        if labels == *suffix {
            return found(MatchKind::Exact);
        }
        if labels.ends_with(suffix) {
            return found(MatchKind::Suffix);
        }
        self.second_level(suffix, &labels).and_then(|domain| found(MatchKind::SecondLevel { domain }))
    }

    /// Returns the shared second-level domain, when this rule accepts one for the TLD.
    fn second_level(&self, suffix: &Labels, name: &Labels) -> Option<String> {
        let tld_allowed = match self.rule {
            DomainRule::SuffixOnly => false,
            DomainRule::SecondLevelComNet => matches!(suffix.tld(), "com" | "net"),
            DomainRule::SecondLevelAnyTld => true,
        };
        if !tld_allowed {
            return None;
        }

        let depth = self.depth(suffix.tld());
        let shared = suffix.registered(depth)?;
        (name.registered(depth)? == shared).then(|| shared.join("."))
    }

    fn depth(&self, tld: &str) -> usize {
        match self.country_domains {
            CountryDomains::DepthTable if THREE_LABEL_TLDS.contains(&tld) => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for DomainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SuffixOnly => "label-boundary suffix only",
            Self::SecondLevelComNet => "label-boundary suffix, or same second-level domain under .com/.net",
            Self::SecondLevelAnyTld => "label-boundary suffix, or same second-level domain under any TLD",
        })
    }
}

impl fmt::Display for DomainPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let depth = match self.country_domains {
            CountryDomains::DepthTable => "three labels under co.uk-style ccTLDs",
            CountryDomains::TwoLabels => "two labels under every TLD",
        };
        write!(f, "{} ({depth})", self.rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amt::profile::FirmwareProfile;

    enum Expect {
        Exact,
        Suffix,
        SecondLevel(&'static str),
        Mismatch,
        Internal,
        InvalidSuffix,
    }

    struct Case {
        profile: &'static str,
        suffix: &'static str,
        names: &'static [&'static str],
        public_root: bool,
        expect: Expect,
    }

    const fn case(profile: &'static str, suffix: &'static str, names: &'static [&'static str], expect: Expect) -> Case {
        Case { profile, suffix, names, public_root: true, expect }
    }

    const fn private(
        profile: &'static str,
        suffix: &'static str,
        names: &'static [&'static str],
        expect: Expect,
    ) -> Case {
        Case { profile, suffix, names, public_root: false, expect }
    }

    use Expect::*;

    const CASES: &[Case] = &[
        // The two reference setups on AMT 4.1.1.
        case("4.1.1", "jcert.info", &["scs.jcert.info"], Suffix),
        case("4.1.1", "mtkg.jcert.info", &["*.jcert.info"], SecondLevel("jcert.info")),
        case("4.1.1", "jcert.info", &["*.jcert.info"], Exact),
        // Before 4.1 the second-level rule covers .com and .net only.
        case("4.0", "mtkg.jcert.info", &["*.jcert.info"], Mismatch),
        case("3.2", "jcert.info", &["scs.jcert.info"], Suffix),
        case("2.6", "sales.example.com", &["scs.example.com"], SecondLevel("example.com")),
        case("2.6", "sales.example.net", &["scs.example.net"], SecondLevel("example.net")),
        case("2.6", "sales.example.org", &["scs.example.org"], Mismatch),
        case("5.0", "sales.example.org", &["scs.example.org"], Mismatch),
        case("5.1", "sales.example.org", &["scs.example.org"], SecondLevel("example.org")),
        case("16.1", "mtkg.jcert.info", &["*.jcert.info"], SecondLevel("jcert.info")),
        // Label boundaries, case and trailing dots.
        case("16.1", "jcert.info", &["scs.xjcert.info"], Mismatch),
        case("16.1", "JCERT.Info.", &["Scs.JCert.INFO"], Suffix),
        case("16.1", "jcert.info", &["scs.jcert.info."], Suffix),
        case("16.1", "a.b.jcert.info", &["scs.jcert.info"], SecondLevel("jcert.info")),
        case("16.1", "jcert.info", &["other.org"], Mismatch),
        // The CN fails and a SAN DNS name matches.
        case("11.8", "jcert.info", &["Setup Server", "scs.jcert.info"], Suffix),
        // Country domains need three labels under the depth table.
        case("11.8", "sales.example.co.uk", &["scs.example.co.uk"], SecondLevel("example.co.uk")),
        case("11.8", "sales.example.co.uk", &["scs.other.co.uk"], Mismatch),
        case("11.8", "sales.example.co.jp", &["*.example.co.jp"], SecondLevel("example.co.jp")),
        case("11.8", "uk", &["scs.example.co.uk"], InvalidSuffix),
        case("11.8", "example.uk", &["scs.example.uk"], Suffix),
        case("11.8", "sales.example.de", &["scs.example.de"], SecondLevel("example.de")),
        case("11.8", "com", &["scs.example.com"], InvalidSuffix),
        // Internal names never match a public root, but a private root may use them.
        case("11.8", "corp.local", &["scs.corp.local"], Internal),
        case("11.8", "lab.home.arpa", &["scs.lab.home.arpa"], Internal),
        private("11.8", "corp.local", &["scs.corp.local"], Suffix),
        private("4.1.1", "mtkg.corp.local", &["*.corp.local"], SecondLevel("corp.local")),
        // Names that are not host names never match.
        case("16.1", "jcert.info", &["scs..jcert.info", "scs jcert.info", ""], Mismatch),
        case("16.1", "", &["scs.jcert.info"], InvalidSuffix),
        case("16.1", "*.jcert.info", &["scs.jcert.info"], InvalidSuffix),
        case("16.1", "jcert.info", &[], Mismatch),
    ];

    fn run(case: &Case) -> Result<DomainMatch, DomainRefusal> {
        let policy = FirmwareProfile::parse(case.profile).unwrap().domain;
        let names: Vec<String> = case.names.iter().map(|name| name.to_string()).collect();
        policy.check(case.suffix, &names, case.public_root)
    }

    #[test]
    fn domain_rule_table() {
        assert!(CASES.len() >= 30);

        for case in CASES {
            let outcome = run(case);
            let what = format!("AMT {} suffix {:?} names {:?}: {outcome:?}", case.profile, case.suffix, case.names);
            match (&case.expect, &outcome) {
                (Exact, Ok(DomainMatch { kind: MatchKind::Exact, .. })) => {}
                (Suffix, Ok(DomainMatch { kind: MatchKind::Suffix, .. })) => {}
                (SecondLevel(expected), Ok(DomainMatch { kind: MatchKind::SecondLevel { domain }, .. })) => {
                    assert_eq!(domain, expected, "{what}")
                }
                (Mismatch, Err(DomainRefusal::Mismatch { .. })) => {}
                (Internal, Err(DomainRefusal::InternalName { .. })) => {}
                (InvalidSuffix, Err(DomainRefusal::InvalidSuffix { .. })) => {}
                _ => panic!("unexpected outcome for {what}"),
            }
        }
    }

    #[test]
    fn domain_two_labels_setting_joins_country_domains() {
        let policy = DomainPolicy { rule: DomainRule::SecondLevelAnyTld, country_domains: CountryDomains::TwoLabels };
        let names = vec!["scs.other.co.uk".to_owned()];

        let matched = policy.check("sales.example.co.uk", &names, true).unwrap();

        assert_eq!(matched.kind, MatchKind::SecondLevel { domain: "co.uk".to_owned() });
    }

    #[test]
    fn domain_suffix_only_setting_rejects_parent() {
        let policy = DomainPolicy { rule: DomainRule::SuffixOnly, country_domains: CountryDomains::DepthTable };
        let names = vec!["*.jcert.info".to_owned()];

        assert!(matches!(policy.check("mtkg.jcert.info", &names, true), Err(DomainRefusal::Mismatch { .. })));
        assert!(policy.check("jcert.info", &names, true).is_ok());
    }

    #[test]
    fn domain_mismatch_names_rule_and_names() {
        let names = vec!["scs.other.org".to_owned()];
        let refusal = FirmwareProfile::parse("4.0").unwrap().domain.check("jcert.info", &names, true).unwrap_err();

        let message = refusal.to_string();
        assert!(message.contains("\"jcert.info\""), "{message}");
        assert!(message.contains("scs.other.org"), "{message}");
        assert!(message.contains(".com/.net"), "{message}");
    }
}
