//! DHCP messages on the wire (RFC 2131 section 2, options from RFC 2132).
//!
//! dhcproto 0.15 decodes the fixed header and encodes every message sent here. This module
//! reads the options field itself, for three reasons. dhcproto 0.15 stops at the first
//! option it cannot read without reporting it. It reads option 15 as UTF-8 text, although
//! the ME must see the raw bytes, a trailing dot or NUL included. And it has
//! `debug_assert!`s on the length of some options (80, 81, 94, 151 to 155), so a malformed
//! packet could panic a debug build.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;

use dhcproto::v4::{self, DhcpOption, OptionCode, UnknownOption};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

/// Length of the fixed BOOTP fields plus the magic cookie: where the options start.
pub const OPTIONS_OFFSET: usize = 240;

/// RFC 1542 section 2.1: some BOOTP relays and clients drop messages shorter than this.
const MIN_MESSAGE_LEN: usize = 300;

const HOPS_OFFSET: usize = 3;
const GIADDR_OFFSET: usize = 24;

/// Option codes this module reads and writes, by their RFC 2132 names.
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DOMAIN_NAME_SERVER: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const REQUESTED_IP_ADDRESS: u8 = 50;
    pub const IP_ADDRESS_LEASE_TIME: u8 = 51;
    pub const OPTION_OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_IDENTIFIER: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const CLIENT_IDENTIFIER: u8 = 61;
    pub const RELAY_AGENT_INFORMATION: u8 = 82;
    pub const END: u8 = 255;
}

/// Codes decoded into [`Message`]. Other codes are skipped.
const KNOWN_CODES: [u8; 13] = [
    code::SUBNET_MASK,
    code::ROUTER,
    code::DOMAIN_NAME_SERVER,
    code::HOST_NAME,
    code::DOMAIN_NAME,
    code::REQUESTED_IP_ADDRESS,
    code::IP_ADDRESS_LEASE_TIME,
    code::MESSAGE_TYPE,
    code::SERVER_IDENTIFIER,
    code::PARAMETER_REQUEST_LIST,
    code::MESSAGE,
    code::CLIENT_IDENTIFIER,
    code::RELAY_AGENT_INFORMATION,
];

/// Reasons a datagram is not a DHCP message this lab can act on.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message of {len} bytes is shorter than the 240-byte fixed header and magic cookie")]
    TooShort { len: usize },

    #[error("magic cookie {found:02x?} is not 63 82 53 63: not a DHCP message")]
    BadMagicCookie { found: [u8; 4] },

    #[error("op {op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)")]
    UnknownOp { op: u8 },

    #[error("hlen {hlen} is longer than the 16-byte chaddr field")]
    HardwareAddressTooLong { hlen: u8 },

    #[error("fixed header could not be decoded: {source}")]
    Header { source: dhcproto::error::DecodeError },

    #[error("option {code} declares {declared} bytes but only {available} remain in the message")]
    TruncatedOption { code: u8, declared: usize, available: usize },

    #[error("option {code} has {len} bytes, expected {expected}")]
    InvalidOptionLength { code: u8, len: usize, expected: &'static str },

    #[error("option 52 (overload) moves options into sname/file, which this lab does not read")]
    OptionOverload,

    #[error("no option 53 (message type): plain BOOTP is not served")]
    MissingMessageType,

    #[error("option 53 value {value} is not a DHCP message type of RFC 2131")]
    UnsupportedMessageType { value: u8 },

    #[error("message could not be encoded: {source}")]
    Encode { source: dhcproto::error::EncodeError },
}

/// The `op` field: which way a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// BOOTREQUEST (1), from client or relay to server.
    Request,
    /// BOOTREPLY (2), from server to relay or client.
    Reply,
}

/// Option 53, limited to the message types of RFC 2131.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

/// A decoded DHCP message: the fixed fields and the options the lab uses.
///
/// Options not listed here are skipped on decoding and never sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub op: Op,
    pub message_type: MessageType,
    /// Hardware address type (1 for Ethernet).
    pub htype: u8,
    /// Relay agent hop count.
    pub hops: u8,
    /// Transaction id chosen by the client.
    pub xid: u32,
    /// Seconds since the client began acquiring or renewing.
    pub secs: u16,
    /// The broadcast flag: the client cannot receive unicast before it has an address.
    pub broadcast: bool,
    /// Client address, set only when the client already uses one.
    pub ciaddr: Ipv4Addr,
    /// "Your" address: the address the server offers or assigns.
    pub yiaddr: Ipv4Addr,
    /// Next server to use in bootstrap.
    pub siaddr: Ipv4Addr,
    /// Relay agent address on the client's segment; zero when not relayed.
    pub giaddr: Ipv4Addr,
    /// Client hardware address, `hlen` bytes.
    pub chaddr: Vec<u8>,
    pub options: Options,
    /// Option codes in the order they are encoded. Present options missing from this list
    /// follow in ascending order, with option 82 last (RFC 3046 section 2.1).
    pub option_order: Vec<u8>,
}

/// The options the lab reads or sends. Byte-string options keep their raw bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 12.
    pub host_name: Option<Vec<u8>>,
    /// Option 15, exactly as sent: it may end with a dot or NUL bytes.
    pub domain_name: Option<Vec<u8>>,
    /// Option 50.
    pub requested_address: Option<Ipv4Addr>,
    /// Option 51, in seconds.
    pub lease_time: Option<u32>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 55: the codes the client asks for, in its order of preference.
    pub parameter_request_list: Option<Vec<u8>>,
    /// Option 56: a human-readable reason, sent with DHCPNAK.
    pub message: Option<Vec<u8>>,
    /// Option 61.
    pub client_id: Option<Vec<u8>>,
    /// Option 82, kept whole so that a server can echo it to the relay that added it.
    pub relay_agent_information: Option<Vec<u8>>,
}

impl Message {
    /// Decodes a UDP payload into a message.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let header = parse_header(bytes)?;
        let fields = split_options(&bytes[OPTIONS_OFFSET..])?;
        let option_order = fields.iter().map(|(code, _)| *code).filter(|code| KNOWN_CODES.contains(code)).collect();
        let (message_type, options) = Options::parse(&fields)?;

        Ok(Self {
            op: parse_op(header.opcode())?,
            message_type,
            htype: header.htype().into(),
            hops: header.hops(),
            xid: header.xid(),
            secs: header.secs(),
            broadcast: header.flags().broadcast(),
            ciaddr: header.ciaddr(),
            yiaddr: header.yiaddr(),
            siaddr: header.siaddr(),
            giaddr: header.giaddr(),
            chaddr: header.chaddr().to_vec(),
            options,
            option_order,
        })
    }

    /// Encodes the message, padded to the 300-byte BOOTP minimum.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        let mut bytes = Vec::with_capacity(MIN_MESSAGE_LEN);
        let mut encoder = Encoder::new(&mut bytes);

        // With no options dhcproto writes the fixed header and the cookie only, so the
        // options can follow in the order chosen here instead of its ascending order.
        self.header().encode(&mut encoder).map_err(|source| WireError::Encode { source })?;
        for option in self.options_in_order() {
            encode_option(&option, &mut encoder)?;
        }
        encoder.write_u8(code::END).map_err(|source| WireError::Encode { source })?;

        if bytes.len() < MIN_MESSAGE_LEN {
            bytes.resize(MIN_MESSAGE_LEN, code::PAD);
        }
        Ok(bytes)
    }

    /// Returns the chaddr as colon-separated hex, for logs.
    pub fn chaddr_display(&self) -> String {
        hardware_address_display(&self.chaddr)
    }

    fn header(&self) -> v4::Message {
        let mut header = v4::Message::default();
        let flags = if self.broadcast { v4::Flags::default().set_broadcast() } else { v4::Flags::default() };

        header
            .set_opcode(match self.op {
                Op::Request => v4::Opcode::BootRequest,
                Op::Reply => v4::Opcode::BootReply,
            })
            .set_htype(self.htype.into())
            .set_hops(self.hops)
            .set_xid(self.xid)
            .set_secs(self.secs)
            .set_flags(flags)
            .set_ciaddr(self.ciaddr)
            .set_yiaddr(self.yiaddr)
            .set_siaddr(self.siaddr)
            .set_giaddr(self.giaddr)
            .set_chaddr(&self.chaddr);
        header
    }

    /// Returns every option to encode, option 53 included, those in `option_order` first.
    fn options_in_order(&self) -> Vec<DhcpOption> {
        let mut present = self.options.to_dhcproto();
        present.push(DhcpOption::MessageType(self.message_type.into()));

        let mut ordered = Vec::with_capacity(present.len());
        for wanted in &self.option_order {
            if let Some(index) = present.iter().position(|option| option_code(option) == *wanted) {
                ordered.push(present.remove(index));
            }
        }

        present.sort_by_key(|option| {
            let code = option_code(option);
            (code == code::RELAY_AGENT_INFORMATION, code)
        });
        ordered.extend(present);
        ordered
    }
}

impl Options {
    /// Reads the options the lab uses out of the split options field.
    fn parse(fields: &[(u8, Cow<'_, [u8]>)]) -> Result<(MessageType, Self), WireError> {
        let mut options = Self::default();
        let mut message_type = None;

        for (code, value) in fields {
            match *code {
                code::MESSAGE_TYPE => message_type = Some(parse_message_type(value)?),
                code::OPTION_OVERLOAD => return Err(WireError::OptionOverload),
                _ => options.set(*code, value)?,
            }
        }

        let message_type = message_type.ok_or(WireError::MissingMessageType)?;
        Ok((message_type, options))
    }

    fn set(&mut self, code: u8, value: &[u8]) -> Result<(), WireError> {
        match code {
            code::SUBNET_MASK => self.subnet_mask = Some(address(code, value)?),
            code::ROUTER => self.routers = addresses(code, value)?,
            code::DOMAIN_NAME_SERVER => self.dns_servers = addresses(code, value)?,
            code::HOST_NAME => self.host_name = Some(value.to_vec()),
            code::DOMAIN_NAME => self.domain_name = Some(value.to_vec()),
            code::REQUESTED_IP_ADDRESS => self.requested_address = Some(address(code, value)?),
            code::IP_ADDRESS_LEASE_TIME => self.lease_time = Some(seconds(code, value)?),
            code::SERVER_IDENTIFIER => self.server_id = Some(address(code, value)?),
            code::PARAMETER_REQUEST_LIST => self.parameter_request_list = Some(value.to_vec()),
            code::MESSAGE => self.message = Some(value.to_vec()),
            code::CLIENT_IDENTIFIER => self.client_id = Some(client_id(value)?),
            code::RELAY_AGENT_INFORMATION => self.relay_agent_information = Some(value.to_vec()),
            _ => {}
        }
        Ok(())
    }

    fn to_dhcproto(&self) -> Vec<DhcpOption> {
        let mut options = Vec::new();
        let raw = |code: u8, bytes: &Vec<u8>| DhcpOption::Unknown(UnknownOption::new(code.into(), bytes.clone()));

        options.extend(self.subnet_mask.map(DhcpOption::SubnetMask));
        if !self.routers.is_empty() {
            options.push(DhcpOption::Router(self.routers.clone()));
        }
        if !self.dns_servers.is_empty() {
            options.push(DhcpOption::DomainNameServer(self.dns_servers.clone()));
        }
        options.extend(self.host_name.as_ref().map(|bytes| raw(code::HOST_NAME, bytes)));
        options.extend(self.domain_name.as_ref().map(|bytes| raw(code::DOMAIN_NAME, bytes)));
        options.extend(self.requested_address.map(DhcpOption::RequestedIpAddress));
        options.extend(self.lease_time.map(DhcpOption::AddressLeaseTime));
        options.extend(self.server_id.map(DhcpOption::ServerIdentifier));
        options.extend(self.parameter_request_list.as_ref().map(|bytes| raw(code::PARAMETER_REQUEST_LIST, bytes)));
        options.extend(self.message.as_ref().map(|bytes| raw(code::MESSAGE, bytes)));
        options.extend(self.client_id.as_ref().map(|bytes| raw(code::CLIENT_IDENTIFIER, bytes)));
        options.extend(self.relay_agent_information.as_ref().map(|bytes| raw(code::RELAY_AGENT_INFORMATION, bytes)));
        options
    }
}

impl From<MessageType> for v4::MessageType {
    fn from(message_type: MessageType) -> Self {
        match message_type {
            MessageType::Discover => Self::Discover,
            MessageType::Offer => Self::Offer,
            MessageType::Request => Self::Request,
            MessageType::Decline => Self::Decline,
            MessageType::Ack => Self::Ack,
            MessageType::Nak => Self::Nak,
            MessageType::Release => Self::Release,
            MessageType::Inform => Self::Inform,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Discover => "DHCPDISCOVER",
            Self::Offer => "DHCPOFFER",
            Self::Request => "DHCPREQUEST",
            Self::Decline => "DHCPDECLINE",
            Self::Ack => "DHCPACK",
            Self::Nak => "DHCPNAK",
            Self::Release => "DHCPRELEASE",
            Self::Inform => "DHCPINFORM",
        };
        f.write_str(name)
    }
}

/// Writes hops and giaddr into an encoded message in place.
///
/// A relay forwards the bytes it received with only these two fields changed, so that
/// options it does not read reach the server exactly as the client sent them.
pub fn write_relay_fields(bytes: &mut [u8], hops: u8, giaddr: Ipv4Addr) -> Result<(), WireError> {
    if bytes.len() < OPTIONS_OFFSET {
        return Err(WireError::TooShort { len: bytes.len() });
    }

    bytes[HOPS_OFFSET] = hops;
    bytes[GIADDR_OFFSET..GIADDR_OFFSET + 4].copy_from_slice(&giaddr.octets());
    Ok(())
}

/// A transaction id as logs show it: eight hex digits, as tcpdump and dnsmasq print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Xid(pub u32);

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Renders option 15 bytes for display: printable ASCII as is, everything else escaped
/// (`\x00` for NUL, `\\` for a backslash), so that a trailing NUL or a stray byte shows.
pub fn escape_option15(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Formats a hardware address as colon-separated hex (`00:1a:2b:3c:4d:5e`).
pub fn hardware_address_display(bytes: &[u8]) -> String {
    let octets: Vec<String> = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    octets.join(":")
}

fn parse_header(bytes: &[u8]) -> Result<v4::Message, WireError> {
    if bytes.len() < OPTIONS_OFFSET {
        return Err(WireError::TooShort { len: bytes.len() });
    }

    let cookie = [bytes[236], bytes[237], bytes[238], bytes[239]];
    if cookie != v4::MAGIC {
        return Err(WireError::BadMagicCookie { found: cookie });
    }

    // dhcproto slices chaddr by hlen without a bound check, so check hlen here.
    let hlen = bytes[2];
    if hlen > 16 {
        return Err(WireError::HardwareAddressTooLong { hlen });
    }

    // Only the header goes to dhcproto: see the module comment for why.
    v4::Message::decode(&mut Decoder::new(&bytes[..OPTIONS_OFFSET])).map_err(|source| WireError::Header { source })
}

fn parse_op(opcode: v4::Opcode) -> Result<Op, WireError> {
    match opcode {
        v4::Opcode::BootRequest => Ok(Op::Request),
        v4::Opcode::BootReply => Ok(Op::Reply),
        v4::Opcode::Unknown(op) => Err(WireError::UnknownOp { op }),
    }
}

/// An option's code and its value, borrowed from the datagram where it can be.
type RawOption<'a> = (u8, Cow<'a, [u8]>);

/// Splits the options field into (code, value) pairs in order of first appearance.
///
/// A code that appears more than once is one option whose values are joined (RFC 3396).
/// A missing End option is accepted, as most servers do, when the field ends cleanly.
fn split_options(mut bytes: &[u8]) -> Result<Vec<RawOption<'_>>, WireError> {
    // Values borrow from the datagram; only an option split over several fields, which
    // RFC 3396 joins, needs a copy.
    let mut fields: Vec<RawOption<'_>> = Vec::with_capacity(16);

    while let Some((&code, rest)) = bytes.split_first() {
        match code {
            code::END => break,
            code::PAD => bytes = rest,
            _ => {
                let (value, remaining) = split_option_value(code, rest)?;
                match fields.iter_mut().find(|(seen, _)| *seen == code) {
                    Some((_, joined)) => joined.to_mut().extend_from_slice(value),
                    None => fields.push((code, Cow::Borrowed(value))),
                }
                bytes = remaining;
            }
        }
    }
    Ok(fields)
}

fn split_option_value(code: u8, bytes: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let Some((&len, rest)) = bytes.split_first() else {
        return Err(WireError::TruncatedOption { code, declared: 1, available: 0 });
    };

    let len = usize::from(len);
    if len > rest.len() {
        return Err(WireError::TruncatedOption { code, declared: len, available: rest.len() });
    }
    Ok(rest.split_at(len))
}

fn parse_message_type(value: &[u8]) -> Result<MessageType, WireError> {
    let [value] = value else {
        return Err(WireError::InvalidOptionLength { code: code::MESSAGE_TYPE, len: value.len(), expected: "1" });
    };

    match value {
        1 => Ok(MessageType::Discover),
        2 => Ok(MessageType::Offer),
        3 => Ok(MessageType::Request),
        4 => Ok(MessageType::Decline),
        5 => Ok(MessageType::Ack),
        6 => Ok(MessageType::Nak),
        7 => Ok(MessageType::Release),
        8 => Ok(MessageType::Inform),
        other => Err(WireError::UnsupportedMessageType { value: *other }),
    }
}

fn address(code: u8, value: &[u8]) -> Result<Ipv4Addr, WireError> {
    let octets: [u8; 4] =
        value.try_into().map_err(|_| WireError::InvalidOptionLength { code, len: value.len(), expected: "4" })?;
    Ok(Ipv4Addr::from(octets))
}

fn addresses(code: u8, value: &[u8]) -> Result<Vec<Ipv4Addr>, WireError> {
    if value.is_empty() || !value.len().is_multiple_of(4) {
        return Err(WireError::InvalidOptionLength { code, len: value.len(), expected: "a non-zero multiple of 4" });
    }

    let addresses = value.chunks_exact(4).map(|octets| Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]));
    Ok(addresses.collect())
}

fn seconds(code: u8, value: &[u8]) -> Result<u32, WireError> {
    let bytes: [u8; 4] =
        value.try_into().map_err(|_| WireError::InvalidOptionLength { code, len: value.len(), expected: "4" })?;
    Ok(u32::from_be_bytes(bytes))
}

/// RFC 2132 section 9.14: a type byte and at least one byte of identifier.
fn client_id(value: &[u8]) -> Result<Vec<u8>, WireError> {
    if value.len() < 2 {
        return Err(WireError::InvalidOptionLength {
            code: code::CLIENT_IDENTIFIER,
            len: value.len(),
            expected: "at least 2",
        });
    }
    Ok(value.to_vec())
}

fn option_code(option: &DhcpOption) -> u8 {
    OptionCode::from(option).into()
}

/// Encodes one option. dhcproto writes nothing for an empty byte string, so an empty
/// value (a lab may send an empty option 15 on purpose) is written here as code and zero
/// length.
fn encode_option(option: &DhcpOption, encoder: &mut Encoder<'_>) -> Result<(), WireError> {
    let result = match option {
        DhcpOption::Unknown(raw) if raw.data().is_empty() => {
            encoder.write_u8(option_code(option)).and_then(|()| encoder.write_u8(0))
        }
        _ => option.encode(encoder),
    };
    result.map_err(|source| WireError::Encode { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// busybox udhcpc 1.35 DHCPDISCOVER with the broadcast flag (`-B`), host name vpro-90.
    const UDHCPC_DISCOVER: &[u8] = include_bytes!("fixtures/udhcpc-discover.bin");
    /// udhcpc DHCPREQUEST selecting the offer below.
    const UDHCPC_REQUEST: &[u8] = include_bytes!("fixtures/udhcpc-request.bin");
    /// dnsmasq 2.90 DHCPOFFER of 192.168.90.118 with option 15 "jcert.info".
    const DNSMASQ_OFFER: &[u8] = include_bytes!("fixtures/dnsmasq-offer.bin");
    /// dnsmasq 2.90 DHCPACK of the same lease.
    const DNSMASQ_ACK: &[u8] = include_bytes!("fixtures/dnsmasq-ack.bin");

    /// This crate's client DHCPDISCOVER as ISC dhcrelay 4.4.3 forwarded it.
    const DHCRELAY_DISCOVER: &[u8] = include_bytes!("fixtures/dhcrelay-discover.bin");

    const MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x5e];
    const XID: u32 = 0x6d3c_cc5c;

    /// Builds a minimal BOOTREQUEST header with the magic cookie, followed by `options`.
    fn request_with_options(options: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0; OPTIONS_OFFSET];
        bytes[0] = 1;
        bytes[1] = 1;
        bytes[2] = 6;
        bytes[28..34].copy_from_slice(&MAC);
        bytes[236..240].copy_from_slice(&v4::MAGIC);
        bytes.extend_from_slice(options);
        bytes
    }

    #[test]
    fn parse_udhcpc_discover() {
        let message = Message::parse(UDHCPC_DISCOVER).unwrap();

        assert_eq!(message.op, Op::Request);
        assert_eq!(message.message_type, MessageType::Discover);
        assert_eq!(message.xid, XID);
        assert!(message.broadcast);
        assert_eq!(message.htype, 1);
        assert_eq!(message.chaddr, MAC);
        assert_eq!(message.giaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(message.options.host_name.as_deref(), Some(&b"vpro-90"[..]));
        assert_eq!(message.options.parameter_request_list.as_deref(), Some(&[1, 3, 6, 12, 15, 28, 42][..]));
        assert_eq!(message.options.client_id.as_deref(), Some(&[1, 0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x5e][..]));
        assert_eq!(message.option_order, [53, 55, 12, 61]);
    }

    #[test]
    fn parse_udhcpc_request_selecting() {
        let message = Message::parse(UDHCPC_REQUEST).unwrap();

        assert_eq!(message.message_type, MessageType::Request);
        assert_eq!(message.xid, XID);
        assert_eq!(message.ciaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(message.options.requested_address, Some(Ipv4Addr::new(192, 168, 90, 118)));
        assert_eq!(message.options.server_id, Some(Ipv4Addr::new(192, 168, 90, 1)));
    }

    #[test]
    fn parse_dhcrelay_discover() {
        let message = Message::parse(DHCRELAY_DISCOVER).unwrap();

        assert_eq!(message.message_type, MessageType::Discover);
        assert_eq!(message.hops, 1);
        assert_eq!(message.giaddr, Ipv4Addr::new(192, 168, 91, 3));
        assert!(message.broadcast);
        assert_eq!(message.chaddr, [0x00, 0x1b, 0x21, 0x3a, 0x91, 0x50]);
        assert_eq!(message.options.parameter_request_list.as_deref(), Some(&[1, 3, 6, 15, 51, 54][..]));
    }

    #[test]
    fn parse_dnsmasq_offer() {
        let message = Message::parse(DNSMASQ_OFFER).unwrap();

        assert_eq!(message.op, Op::Reply);
        assert_eq!(message.message_type, MessageType::Offer);
        assert_eq!(message.yiaddr, Ipv4Addr::new(192, 168, 90, 118));
        assert_eq!(message.siaddr, Ipv4Addr::new(192, 168, 90, 1));
        assert!(message.broadcast);
    }

    #[test]
    fn parse_dnsmasq_ack() {
        let message = Message::parse(DNSMASQ_ACK).unwrap();
        let options = &message.options;

        assert_eq!(message.message_type, MessageType::Ack);
        assert_eq!(message.yiaddr, Ipv4Addr::new(192, 168, 90, 118));
        assert_eq!(options.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(options.routers, [Ipv4Addr::new(192, 168, 90, 254)]);
        assert_eq!(options.dns_servers, [Ipv4Addr::new(192, 168, 90, 1)]);
        assert_eq!(options.domain_name.as_deref(), Some(&b"jcert.info"[..]));
        assert_eq!(options.lease_time, Some(3600));
        assert_eq!(options.server_id, Some(Ipv4Addr::new(192, 168, 90, 1)));
        assert_eq!(options.host_name.as_deref(), Some(&b"vpro-90"[..]));
    }

    #[test]
    fn emit_then_parse_keeps_golden_messages() {
        for golden in [UDHCPC_DISCOVER, UDHCPC_REQUEST, DNSMASQ_OFFER, DNSMASQ_ACK, DHCRELAY_DISCOVER] {
            let message = Message::parse(golden).unwrap();

            let bytes = message.emit().unwrap();

            assert_eq!(Message::parse(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn emit_reproduces_dhcrelay_discover() {
        let message = Message::parse(DHCRELAY_DISCOVER).unwrap();

        let bytes = message.emit().unwrap();

        assert_eq!(bytes, DHCRELAY_DISCOVER);
    }

    #[test]
    fn emit_keeps_fixed_header_bytes() {
        let message = Message::parse(DNSMASQ_OFFER).unwrap();

        let bytes = message.emit().unwrap();

        // dnsmasq leaves sname and file empty, so the whole fixed part must match.
        assert_eq!(bytes[..OPTIONS_OFFSET], DNSMASQ_OFFER[..OPTIONS_OFFSET]);
    }

    #[test]
    fn emit_writes_options_in_option_order() {
        let mut message = Message::parse(DNSMASQ_ACK).unwrap();
        message.options.host_name = None;
        message.option_order = vec![53, 15, 6, 3, 1];

        let bytes = message.emit().unwrap();

        let expected: &[u8] = &[
            53, 1, 5, // DHCPACK
            15, 10, b'j', b'c', b'e', b'r', b't', b'.', b'i', b'n', b'f', b'o', // option 15
            6, 4, 192, 168, 90, 1, // DNS server
            3, 4, 192, 168, 90, 254, // router
            1, 4, 255, 255, 255, 0, // subnet mask
            51, 4, 0, 0, 0x0e, 0x10, // 3600 s, not in option_order: ascending after
            54, 4, 192, 168, 90, 1, // server identifier
            255,
        ];
        assert_eq!(&bytes[OPTIONS_OFFSET..OPTIONS_OFFSET + expected.len()], expected);
        assert_eq!(bytes.len(), MIN_MESSAGE_LEN);
        assert!(bytes[OPTIONS_OFFSET + expected.len()..].iter().all(|byte| *byte == code::PAD));
    }

    #[test]
    fn emit_puts_relay_agent_information_last() {
        let mut message = Message::parse(UDHCPC_DISCOVER).unwrap();
        message.options.relay_agent_information = Some(vec![1, 2, b'a', b'b']);
        message.option_order = vec![];

        let bytes = message.emit().unwrap();

        let end = bytes.iter().rposition(|byte| *byte == code::END).unwrap();
        assert_eq!(bytes[end - 6..end], [82, 4, 1, 2, b'a', b'b']);
    }

    #[test]
    fn option15_keeps_raw_bytes() {
        let value = b"jcert.info.\0\xff";
        let mut options = vec![53, 1, 1, 15, value.len() as u8];
        options.extend_from_slice(value);
        options.push(255);

        let message = Message::parse(&request_with_options(&options)).unwrap();
        let bytes = message.emit().unwrap();

        assert_eq!(message.options.domain_name.as_deref(), Some(&value[..]));
        assert_eq!(Message::parse(&bytes).unwrap().options.domain_name.as_deref(), Some(&value[..]));
    }

    #[test]
    fn option15_empty_is_emitted() {
        let mut message = Message::parse(DNSMASQ_ACK).unwrap();
        message.options.domain_name = Some(Vec::new());

        let bytes = message.emit().unwrap();

        assert_eq!(Message::parse(&bytes).unwrap().options.domain_name, Some(Vec::new()));
    }

    #[test]
    fn option15_long_value_is_split_and_joined() {
        let value = vec![b'a'; 300];
        let mut message = Message::parse(DNSMASQ_ACK).unwrap();
        message.options.domain_name = Some(value.clone());

        let bytes = message.emit().unwrap();

        assert_eq!(Message::parse(&bytes).unwrap().options.domain_name, Some(value));
    }

    #[test]
    fn split_option_is_joined() {
        let options = [53, 1, 1, 15, 3, b'a', b'b', b'c', 12, 1, b'h', 15, 2, b'.', b'd', 255];

        let message = Message::parse(&request_with_options(&options)).unwrap();

        assert_eq!(message.options.domain_name.as_deref(), Some(&b"abc.d"[..]));
        assert_eq!(message.options.host_name.as_deref(), Some(&b"h"[..]));
    }

    #[test]
    fn missing_end_option_is_accepted() {
        let message = Message::parse(&request_with_options(&[53, 1, 1])).unwrap();

        assert_eq!(message.message_type, MessageType::Discover);
    }

    #[test]
    fn unknown_options_are_skipped() {
        // Option 80 (rapid commit) with a length dhcproto would assert on.
        let options = [80, 2, 0, 0, 53, 1, 1, 255];

        let message = Message::parse(&request_with_options(&options)).unwrap();

        assert_eq!(message.message_type, MessageType::Discover);
        assert_eq!(message.option_order, [53]);
    }

    #[test]
    fn parse_rejects_short_message() {
        let error = Message::parse(&UDHCPC_DISCOVER[..239]).unwrap_err();

        assert!(matches!(error, WireError::TooShort { len: 239 }), "{error}");
    }

    #[test]
    fn parse_rejects_bad_magic_cookie() {
        let mut bytes = UDHCPC_DISCOVER.to_vec();
        bytes[236] = 0;

        let error = Message::parse(&bytes).unwrap_err();

        assert!(matches!(error, WireError::BadMagicCookie { found: [0, 0x82, 0x53, 0x63] }), "{error}");
    }

    #[test]
    fn parse_rejects_unknown_op() {
        let mut bytes = UDHCPC_DISCOVER.to_vec();
        bytes[0] = 3;

        let error = Message::parse(&bytes).unwrap_err();

        assert!(matches!(error, WireError::UnknownOp { op: 3 }), "{error}");
    }

    #[test]
    fn parse_rejects_long_hlen() {
        let mut bytes = UDHCPC_DISCOVER.to_vec();
        bytes[2] = 17;

        let error = Message::parse(&bytes).unwrap_err();

        assert!(matches!(error, WireError::HardwareAddressTooLong { hlen: 17 }), "{error}");
    }

    #[test]
    fn parse_rejects_truncated_option() {
        let error = Message::parse(&request_with_options(&[53, 1, 1, 15, 10, b'a'])).unwrap_err();

        assert!(matches!(error, WireError::TruncatedOption { code: 15, declared: 10, available: 1 }), "{error}");
    }

    #[test]
    fn parse_rejects_option_without_length() {
        let error = Message::parse(&request_with_options(&[53, 1, 1, 15])).unwrap_err();

        assert!(matches!(error, WireError::TruncatedOption { code: 15, .. }), "{error}");
    }

    #[test]
    fn parse_rejects_bad_address_length() {
        let error = Message::parse(&request_with_options(&[53, 1, 3, 54, 3, 10, 0, 0, 255])).unwrap_err();

        assert!(matches!(error, WireError::InvalidOptionLength { code: 54, len: 3, .. }), "{error}");
    }

    #[test]
    fn parse_rejects_bad_address_list_length() {
        let error = Message::parse(&request_with_options(&[53, 1, 5, 6, 5, 1, 1, 1, 1, 1, 255])).unwrap_err();

        assert!(matches!(error, WireError::InvalidOptionLength { code: 6, len: 5, .. }), "{error}");
    }

    #[test]
    fn parse_rejects_short_client_id() {
        let error = Message::parse(&request_with_options(&[53, 1, 1, 61, 1, 1, 255])).unwrap_err();

        assert!(matches!(error, WireError::InvalidOptionLength { code: 61, len: 1, .. }), "{error}");
    }

    #[test]
    fn parse_rejects_missing_message_type() {
        let error = Message::parse(&request_with_options(&[12, 1, b'h', 255])).unwrap_err();

        assert!(matches!(error, WireError::MissingMessageType), "{error}");
    }

    #[test]
    fn parse_rejects_unsupported_message_type() {
        let error = Message::parse(&request_with_options(&[53, 1, 10, 255])).unwrap_err();

        assert!(matches!(error, WireError::UnsupportedMessageType { value: 10 }), "{error}");
    }

    #[test]
    fn parse_rejects_option_overload() {
        let error = Message::parse(&request_with_options(&[53, 1, 1, 52, 1, 3, 255])).unwrap_err();

        assert!(matches!(error, WireError::OptionOverload), "{error}");
    }

    #[test]
    fn parse_survives_every_truncation() {
        for golden in [UDHCPC_DISCOVER, DNSMASQ_ACK] {
            for len in 0..golden.len() {
                // Any result will do; the test is that no length panics.
                let _ = Message::parse(&golden[..len]);
            }
        }
    }

    #[test]
    fn write_relay_fields_changes_only_hops_and_giaddr() {
        let mut bytes = UDHCPC_DISCOVER.to_vec();

        write_relay_fields(&mut bytes, 1, Ipv4Addr::new(192, 168, 91, 3)).unwrap();

        let changed: Vec<usize> = (0..bytes.len()).filter(|index| bytes[*index] != UDHCPC_DISCOVER[*index]).collect();
        assert_eq!(changed, [3, 24, 25, 26, 27]);
        let message = Message::parse(&bytes).unwrap();
        assert_eq!(message.hops, 1);
        assert_eq!(message.giaddr, Ipv4Addr::new(192, 168, 91, 3));
    }

    #[test]
    fn escape_option15_shows_nul_and_non_printables() {
        assert_eq!(escape_option15(b"jcert.info"), "jcert.info");
        assert_eq!(escape_option15(b"jcert.info.\0"), "jcert.info.\\x00");
        assert_eq!(escape_option15(b"a b\x7f\xff\\"), "a b\\x7f\\xff\\\\");
    }
}
