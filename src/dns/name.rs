//! Domain names as the lab writes them: host names in presentation form, without escapes.

use hickory_proto::ProtoError;
use hickory_proto::rr::Name;

/// Maximum label length, in bytes (RFC 1035 section 2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Maximum name length in wire form, length bytes and root label included (RFC 1035 section
/// 2.3.4).
const MAX_WIRE_LEN: usize = 255;

/// Reason a text is not a domain name that the lab accepts.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,

    #[error("the name is the root (.), which names no host or zone")]
    Root,

    #[error("it has an empty label: remove the leading dot or the doubled dot")]
    EmptyLabel,

    #[error("label {label:?} is {len} bytes long, more than the {MAX_LABEL_LEN} allowed")]
    LabelTooLong { label: String, len: usize },

    #[error("the name is {len} bytes long in wire form, more than the {MAX_WIRE_LEN} allowed")]
    TooLong { len: usize },

    #[error("label {label:?} contains {character:?}: use letters, digits, hyphens and underscores")]
    BadCharacter { label: String, character: char },

    #[error(
        "label {label:?} starts or ends with a hyphen, which host names do not allow (RFC 952)"
    )]
    EdgeHyphen { label: String },

    #[error("mailbox {mailbox:?} has an empty part before or after the @")]
    EmptyMailboxPart { mailbox: String },

    #[error("hickory-proto rejected the name: {0}")]
    Proto(#[source] ProtoError),
}

/// Parses a fully qualified name such as `provisionserver.jcert.info`, with or without the
/// trailing dot. The result is always fully qualified and keeps the case it was written in.
pub fn parse_name(text: &str) -> Result<Name, NameError> {
    if text == "." {
        return Err(NameError::Root);
    }

    let text = text.strip_suffix('.').unwrap_or(text);
    if text.is_empty() {
        return Err(NameError::Empty);
    }

    let labels: Vec<&str> = text.split('.').collect();
    for label in &labels {
        check_host_label(label)?;
    }

    let labels: Vec<&[u8]> = labels.iter().map(|label| label.as_bytes()).collect();
    build_name(&labels)
}

/// Parses the SOA RNAME: a mailbox written as `hostmaster@jcert.info`, or already in DNS form
/// (`hostmaster.jcert.info`). In the mailbox form the local part becomes one label, so a dot
/// in it stays part of that label (RFC 1034 section 3.3).
pub fn parse_mailbox(text: &str) -> Result<Name, NameError> {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return parse_name(text);
    };

    if local.is_empty() || domain.is_empty() {
        return Err(NameError::EmptyMailboxPart { mailbox: text.to_owned() });
    }
    check_mailbox_local_part(local)?;

    let domain = parse_name(domain)?;
    let labels: Vec<&[u8]> = std::iter::once(local.as_bytes()).chain(domain.iter()).collect();
    build_name(&labels)
}

/// Returns a name as users write it: ASCII, without the trailing dot of the root.
pub fn display_name(name: &Name) -> String {
    let text = name.to_ascii();
    match text.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        _ => text,
    }
}

fn check_host_label(label: &str) -> Result<(), NameError> {
    check_label_len(label)?;

    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if let Some(character) = label.chars().find(|&c| !allowed(c)) {
        return Err(NameError::BadCharacter { label: label.to_owned(), character });
    }

    if label.starts_with('-') || label.ends_with('-') {
        return Err(NameError::EdgeHyphen { label: label.to_owned() });
    }
    Ok(())
}

fn check_mailbox_local_part(local: &str) -> Result<(), NameError> {
    check_label_len(local)?;

    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.+".contains(c);
    match local.chars().find(|&c| !allowed(c)) {
        Some(character) => Err(NameError::BadCharacter { label: local.to_owned(), character }),
        None => Ok(()),
    }
}

fn check_label_len(label: &str) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong { label: label.to_owned(), len: label.len() });
    }
    Ok(())
}

fn build_name(labels: &[&[u8]]) -> Result<Name, NameError> {
    // Each label costs its length byte plus its bytes; the root label adds one more byte.
    let wire_len = labels.iter().map(|label| label.len() + 1).sum::<usize>() + 1;
    if wire_len > MAX_WIRE_LEN {
        return Err(NameError::TooLong { len: wire_len });
    }

    Name::from_labels(labels.iter().copied()).map_err(NameError::Proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_name_accepts_trailing_dot_and_keeps_case() {
        let with_dot = parse_name("ProvisionServer.jcert.info.").unwrap();
        let without_dot = parse_name("provisionserver.JCERT.info").unwrap();

        assert!(with_dot.is_fqdn());
        assert!(without_dot.is_fqdn());
        assert_eq!(with_dot, without_dot);
        assert_eq!(with_dot.to_ascii(), "ProvisionServer.jcert.info.");
    }

    #[test]
    fn parse_name_accepts_reverse_and_service_names() {
        assert!(parse_name("10.90.168.192.in-addr.arpa").is_ok());
        assert!(parse_name("_ldap._tcp.dc._msdcs.jcert.info").is_ok());
    }

    #[test]
    fn parse_name_rejects_malformed_names() {
        assert!(matches!(parse_name(""), Err(NameError::Empty)));
        assert!(matches!(parse_name("."), Err(NameError::Root)));
        assert!(matches!(parse_name("scs..jcert.info"), Err(NameError::EmptyLabel)));
        assert!(matches!(parse_name(".jcert.info"), Err(NameError::EmptyLabel)));
        assert!(matches!(
            parse_name("scs jcert.info"),
            Err(NameError::BadCharacter { character: ' ', .. })
        ));
        assert!(matches!(
            parse_name("*.jcert.info"),
            Err(NameError::BadCharacter { character: '*', .. })
        ));
        assert!(matches!(parse_name("-scs.jcert.info"), Err(NameError::EdgeHyphen { .. })));
    }

    #[test]
    fn parse_name_rejects_overlong_label_and_name() {
        let long_label = format!("{}.jcert.info", "a".repeat(64));
        let long_name = vec!["abcdefghi"; 26].join(".");

        assert!(matches!(parse_name(&long_label), Err(NameError::LabelTooLong { len: 64, .. })));
        assert!(matches!(parse_name(&long_name), Err(NameError::TooLong { len: 261 })));
    }

    #[test]
    fn parse_mailbox_turns_local_part_into_one_label() {
        let name = parse_mailbox("host.master@jcert.info").unwrap();

        assert_eq!(name.num_labels(), 3);
        assert_eq!(name.iter().next(), Some(&b"host.master"[..]));
        assert_eq!(name.to_ascii(), "host\\.master.jcert.info.");
    }

    #[test]
    fn parse_mailbox_accepts_dns_form() {
        let name = parse_mailbox("hostmaster.jcert.info").unwrap();

        assert_eq!(name.to_ascii(), "hostmaster.jcert.info.");
    }

    #[test]
    fn parse_mailbox_rejects_empty_parts() {
        assert!(matches!(parse_mailbox("@jcert.info"), Err(NameError::EmptyMailboxPart { .. })));
        assert!(matches!(parse_mailbox("hostmaster@"), Err(NameError::EmptyMailboxPart { .. })));
    }

    #[test]
    fn display_name_strips_root_dot() {
        assert_eq!(display_name(&parse_name("scs.jcert.info").unwrap()), "scs.jcert.info");
        assert_eq!(display_name(&Name::root()), ".");
    }
}
