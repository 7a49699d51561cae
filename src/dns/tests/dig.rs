//! The server against dig (Debian package dnsutils) as an independent client. When dig is
//! not installed, each test prints that it is skipped and passes.

use std::io::ErrorKind;
use std::net::SocketAddr;

use tokio::process::Command;

use super::{BIG_RRSET_LEN, TestServer};

/// What dig printed, reduced to the parts the tests compare.
#[derive(Debug, Default)]
struct DigReply {
    status: String,
    flags: Vec<String>,
    /// Records as `owner TYPE data`, without TTL and class.
    answer: Vec<String>,
    authority: Vec<String>,
}

#[derive(Clone, Copy)]
enum Section {
    Answer,
    Authority,
    Other,
}

/// Runs `dig @server -p port ARGS`, or returns `None` when dig is not installed.
async fn dig(server: SocketAddr, args: &[&str]) -> Option<DigReply> {
    let output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=2", "+tries=1", "+norecurse"])
        .args(args)
        .output()
        .await;

    let output = match output {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            eprintln!("skipped: dig not found; install Debian's dnsutils to run this test");
            return None;
        }
        Err(error) => panic!("failed to run dig: {error}"),
    };

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "dig {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(parse_dig(&stdout))
}

fn parse_dig(text: &str) -> DigReply {
    let mut reply = DigReply::default();
    let mut section = Section::Other;

    for line in text.lines() {
        if let Some((_, rest)) = line.split_once("status: ") {
            reply.status = rest.split(',').next().unwrap_or_default().to_owned();
        } else if let Some(flags) = line.strip_prefix(";; flags: ") {
            let flags = flags.split(';').next().unwrap_or_default();
            reply.flags = flags.split_whitespace().map(str::to_owned).collect();
        } else if line.starts_with(";; ANSWER SECTION:") {
            section = Section::Answer;
        } else if line.starts_with(";; AUTHORITY SECTION:") {
            section = Section::Authority;
        } else if line.is_empty() || line.starts_with(';') {
            section = Section::Other;
        } else {
            match section {
                Section::Answer => reply.answer.push(record_text(line)),
                Section::Authority => reply.authority.push(record_text(line)),
                Section::Other => {}
            }
        }
    }
    reply
}

/// Reduces `owner TTL class TYPE data...` to `owner TYPE data...`.
fn record_text(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.as_slice() {
        [owner, _ttl, _class, record_type, data @ ..] => {
            format!("{owner} {record_type} {}", data.join(" "))
        }
        _ => panic!("dig printed a record line with fewer than 4 fields: {line:?}"),
    }
}

#[tokio::test]
async fn dig_gets_cross_zone_cname() {
    let server = TestServer::start().await;

    for transport in ["+notcp", "+tcp"] {
        let Some(reply) =
            dig(server.addr, &[transport, "provisionserver.mtkg.jcert.info", "A"]).await
        else {
            break;
        };

        assert_eq!(reply.status, "NOERROR", "{transport}");
        assert!(reply.flags.contains(&"aa".to_owned()), "{transport}: flags {:?}", reply.flags);
        assert_eq!(
            reply.answer,
            [
                "provisionserver.mtkg.jcert.info. CNAME scs.jcert.info.",
                "scs.jcert.info. A 192.168.90.20"
            ],
            "{transport}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn dig_gets_nxdomain_with_soa() {
    let server = TestServer::start().await;

    if let Some(reply) = dig(server.addr, &["nowhere.jcert.info", "A"]).await {
        assert_eq!(reply.status, "NXDOMAIN");
        assert!(reply.flags.contains(&"aa".to_owned()), "flags {:?}", reply.flags);
        assert!(reply.answer.is_empty(), "{:?}", reply.answer);
        assert_eq!(
            reply.authority,
            [
                "jcert.info. SOA dc1.jcert.info. hostmaster.jcert.info. 2009061501 3600 600 86400 300"
            ]
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn dig_gets_nodata_with_soa() {
    let server = TestServer::start().await;

    if let Some(reply) = dig(server.addr, &["DC1.jcert.INFO", "AAAA"]).await {
        assert_eq!(reply.status, "NOERROR");
        assert!(reply.flags.contains(&"aa".to_owned()), "flags {:?}", reply.flags);
        assert!(reply.answer.is_empty(), "{:?}", reply.answer);
        assert_eq!(reply.authority.len(), 1, "{:?}", reply.authority);
        assert!(reply.authority[0].starts_with("jcert.info. SOA "), "{:?}", reply.authority);
    }
    server.stop().await;
}

#[tokio::test]
async fn dig_gets_refused_outside_zones() {
    let server = TestServer::start().await;

    if let Some(reply) = dig(server.addr, &["provisionserver.example.org", "A"]).await {
        assert_eq!(reply.status, "REFUSED");
        assert!(!reply.flags.contains(&"aa".to_owned()), "flags {:?}", reply.flags);
        assert!(reply.answer.is_empty(), "{:?}", reply.answer);
    }
    server.stop().await;
}

#[tokio::test]
async fn dig_gets_ptr_from_reverse_zone() {
    let server = TestServer::start().await;

    if let Some(reply) = dig(server.addr, &["-x", "192.168.90.20"]).await {
        assert_eq!(reply.status, "NOERROR");
        assert_eq!(reply.answer, ["20.90.168.192.in-addr.arpa. PTR scs.jcert.info."]);
    }
    server.stop().await;
}

#[tokio::test]
async fn dig_retries_truncated_reply_over_tcp() {
    let server = TestServer::start().await;

    // Without EDNS the UDP limit is 512 bytes: +ignore shows the truncated reply itself, and
    // without it dig repeats the query over TCP and gets every record.
    let Some(truncated) = dig(server.addr, &["+noedns", "+ignore", "big.jcert.info", "A"]).await
    else {
        server.stop().await;
        return;
    };
    let full = dig(server.addr, &["+noedns", "big.jcert.info", "A"]).await.unwrap();

    assert!(truncated.flags.contains(&"tc".to_owned()), "flags {:?}", truncated.flags);
    assert!(!full.flags.contains(&"tc".to_owned()), "flags {:?}", full.flags);
    assert_eq!(full.answer.len(), usize::from(BIG_RRSET_LEN));
    server.stop().await;
}
