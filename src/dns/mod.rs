//! The lab's authoritative DNS server on hickory-server, and the ME's stub resolver.
//!
//! - [`zone`]: zone specs (SOA, NS, A, CNAME, PTR) and their checked form, [`Zones`].
//! - [`server`]: [`serve`], authoritative answers over UDP and TCP on sockets the lab binds
//!   in the DNS node's namespace.
//! - [`stub`]: [`lookup_a`], the ME's lookup of `provisionserver.<domain>`.

mod name;
pub mod server;
pub mod stub;
pub mod zone;

#[cfg(test)]
mod tests;

use hickory_proto::op::ResponseCode;

pub use name::{NameError, display_name};
pub use server::{DnsError, serve};
pub use stub::{LookupError, MalformedReply, Resolution, Transport, lookup_a};
pub use zone::{RecordData, RecordSpec, ZoneError, ZoneSpec, Zones, ptr_name, reverse_zone_origin};

/// Returns the mnemonic of a response code as dig prints it: NOERROR, NXDOMAIN, REFUSED, ...
pub fn rcode_name(rcode: ResponseCode) -> String {
    let name = match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        other => return format!("RCODE{}", u16::from(other)),
    };
    name.to_owned()
}
