//! SOAP 1.2 faults with the WS-Addressing, WS-Management and WS-Enumeration subcodes an
//! AMT endpoint returns.

use std::fmt::{self, Write as _};

use super::xml::{XmlElement, escape};
use super::{WsManError, action, ns};

/// A SOAP fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    pub subcode: FaultSubcode,
    /// `s:Reason/s:Text`: the human-readable explanation.
    pub reason: String,
    /// Text of `s:Detail`, when the peer sent any.
    pub detail: Option<String>,
}

/// The SOAP 1.2 fault code: whose mistake it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCode {
    /// The request was wrong; sending it again unchanged fails again.
    Sender,
    /// The endpoint failed to process a valid request.
    Receiver,
    VersionMismatch,
    MustUnderstand,
    DataEncodingUnknown,
}

/// The fault subcode, which names the exact failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultSubcode {
    /// `wsa:DestinationUnreachable`: no resource at that resource URI (or selectors).
    DestinationUnreachable,
    /// `wsa:ActionNotSupported`: the resource has no such operation or method.
    ActionNotSupported,
    /// `wsa:InvalidMessageInformationHeader`: a header is present but malformed.
    InvalidMessageInformationHeader,
    /// `wsa:MessageInformationHeaderRequired`: a required header is missing.
    MessageInformationHeaderRequired,
    /// `wsman:AccessDenied`: the user may not perform this operation.
    AccessDenied,
    /// `wsman:SchemaValidationError`: the body does not fit the class or method.
    SchemaValidationError,
    /// `wsman:InvalidSelectors`: the selectors name no instance.
    InvalidSelectors,
    /// `wsman:InternalError`.
    InternalError,
    /// `wsen:InvalidEnumerationContext`: unknown or finished enumeration.
    InvalidEnumerationContext,
    /// `wxf:InvalidRepresentation`: a Create or Put body the resource cannot take.
    InvalidRepresentation,
    /// A subcode this module does not name.
    Other { namespace: Option<String>, name: String },
}

impl Fault {
    /// Creates a fault with the code the subcode implies.
    pub fn new(subcode: FaultSubcode, reason: impl Into<String>) -> Self {
        Self { code: subcode.code(), subcode, reason: reason.into(), detail: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Returns the HTTP status of a response carrying this fault. AMT sends 400 with a
    /// sender fault, and the SOAP 1.2 HTTP binding gives 500 to the other codes.
    pub fn http_status(&self) -> u16 {
        match self.code {
            FaultCode::Sender => 400,
            _ => 500,
        }
    }

    pub(crate) fn emit(&self, out: &mut String) {
        let _ = write!(out, "<s:Fault><s:Code><s:Value>s:{}</s:Value><s:Subcode>", self.code.name());
        match self.subcode.prefix() {
            Some(prefix) => {
                let _ = write!(out, "<s:Value>{prefix}:{}</s:Value>", self.subcode.name());
            }
            None => {
                let namespace = self.subcode.namespace().unwrap_or_default();
                let _ = write!(
                    out,
                    r#"<s:Value xmlns:x="{}">x:{}</s:Value>"#,
                    escape(namespace),
                    escape(self.subcode.name())
                );
            }
        }
        let _ = write!(
            out,
            r#"</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{}</s:Text></s:Reason>"#,
            escape(&self.reason)
        );
        match &self.detail {
            Some(detail) => {
                let _ = write!(out, "<s:Detail>{}</s:Detail>", escape(detail));
            }
            None => out.push_str("<s:Detail></s:Detail>"),
        }
        out.push_str("</s:Fault>");
    }

    pub(crate) fn parse(fault: &XmlElement) -> Result<Self, WsManError> {
        let code_element =
            fault.child(ns::SOAP, "Code").ok_or(WsManError::MissingElement { element: "s:Fault/s:Code" })?;
        let code_value =
            code_element.child(ns::SOAP, "Value").ok_or(WsManError::MissingElement { element: "s:Code/s:Value" })?;
        let code = FaultCode::from_name(code_value.text_local_name()).ok_or_else(|| WsManError::InvalidValue {
            field: "s:Code/s:Value".into(),
            value: code_value.trimmed_text().into(),
            expected: "a SOAP 1.2 fault code",
        })?;

        let subcode = code_element
            .child(ns::SOAP, "Subcode")
            .and_then(|subcode| subcode.child(ns::SOAP, "Value"))
            .map(|value| FaultSubcode::from_qualified(value.text_namespace.as_deref(), value.text_local_name()))
            .unwrap_or(FaultSubcode::Other { namespace: None, name: String::new() });
        let reason = fault
            .child(ns::SOAP, "Reason")
            .and_then(|reason| reason.child(ns::SOAP, "Text"))
            .map(|text| text.trimmed_text().to_owned())
            .unwrap_or_default();
        let detail = fault.child(ns::SOAP, "Detail").map(detail_text).filter(|text| !text.is_empty());

        Ok(Self { code, subcode, reason, detail })
    }
}

/// Text of a `s:Detail`, including that of child elements such as `wsman:FaultDetail`.
fn detail_text(detail: &XmlElement) -> String {
    let mut parts = vec![detail.trimmed_text().to_owned()];
    parts.extend(detail.children.iter().map(detail_text));
    parts.retain(|part| !part.is_empty());
    parts.join(" ")
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.subcode, self.code.name(), self.reason)?;
        if let Some(detail) = &self.detail {
            write!(f, " [{detail}]")?;
        }
        Ok(())
    }
}

impl FaultCode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sender => "Sender",
            Self::Receiver => "Receiver",
            Self::VersionMismatch => "VersionMismatch",
            Self::MustUnderstand => "MustUnderstand",
            Self::DataEncodingUnknown => "DataEncodingUnknown",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::Sender, Self::Receiver, Self::VersionMismatch, Self::MustUnderstand, Self::DataEncodingUnknown]
            .into_iter()
            .find(|code| code.name() == name)
    }
}

/// Every named subcode with its namespace and local name.
const NAMED_SUBCODES: [(FaultSubcode, &str, &str); 10] = [
    (FaultSubcode::DestinationUnreachable, ns::ADDRESSING, "DestinationUnreachable"),
    (FaultSubcode::ActionNotSupported, ns::ADDRESSING, "ActionNotSupported"),
    (FaultSubcode::InvalidMessageInformationHeader, ns::ADDRESSING, "InvalidMessageInformationHeader"),
    (FaultSubcode::MessageInformationHeaderRequired, ns::ADDRESSING, "MessageInformationHeaderRequired"),
    (FaultSubcode::AccessDenied, ns::WSMAN, "AccessDenied"),
    (FaultSubcode::SchemaValidationError, ns::WSMAN, "SchemaValidationError"),
    (FaultSubcode::InvalidSelectors, ns::WSMAN, "InvalidSelectors"),
    (FaultSubcode::InternalError, ns::WSMAN, "InternalError"),
    (FaultSubcode::InvalidEnumerationContext, ns::ENUMERATION, "InvalidEnumerationContext"),
    (FaultSubcode::InvalidRepresentation, ns::TRANSFER, "InvalidRepresentation"),
];

impl FaultSubcode {
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::Other { namespace, .. } => namespace.as_deref(),
            named => NAMED_SUBCODES.iter().find(|(subcode, _, _)| subcode == named).map(|(_, namespace, _)| *namespace),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Other { name, .. } => name,
            named => NAMED_SUBCODES.iter().find(|(subcode, _, _)| subcode == named).map_or("", |(_, _, name)| *name),
        }
    }

    /// Returns the `wsa:Action` of a fault message with this subcode.
    pub fn action(&self) -> &'static str {
        match self.namespace() {
            Some(ns::ADDRESSING) => action::ADDRESSING_FAULT,
            Some(ns::ENUMERATION) => action::ENUMERATION_FAULT,
            Some(ns::TRANSFER) => action::TRANSFER_FAULT,
            _ => action::WSMAN_FAULT,
        }
    }

    /// Returns the fault code that goes with this subcode: Receiver for an internal error,
    /// Sender for the others, which all blame the request.
    pub fn code(&self) -> FaultCode {
        match self {
            Self::InternalError => FaultCode::Receiver,
            _ => FaultCode::Sender,
        }
    }

    fn prefix(&self) -> Option<&'static str> {
        match self.namespace() {
            Some(ns::ADDRESSING) => Some("a"),
            Some(ns::WSMAN) => Some("w"),
            Some(ns::ENUMERATION) => Some("n"),
            Some(ns::TRANSFER) => Some("t"),
            _ => None,
        }
    }

    fn from_qualified(namespace: Option<&str>, name: &str) -> Self {
        NAMED_SUBCODES
            .iter()
            .find(|(_, known_namespace, known_name)| Some(*known_namespace) == namespace && *known_name == name)
            .map(|(subcode, _, _)| subcode.clone())
            .unwrap_or_else(|| Self::Other { namespace: namespace.map(String::from), name: name.into() })
    }
}

impl fmt::Display for FaultSubcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix() {
            Some("a") => write!(f, "wsa:{}", self.name()),
            Some("w") => write!(f, "wsman:{}", self.name()),
            Some("t") => write!(f, "wxf:{}", self.name()),
            Some(_) => write!(f, "wsen:{}", self.name()),
            None => write!(f, "{}", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amt::wsman::{Body, Envelope};

    #[test]
    fn every_named_subcode_round_trips() {
        for (subcode, _, _) in NAMED_SUBCODES {
            let envelope = Envelope::fault(None, Fault::new(subcode.clone(), "reason").with_detail("detail"));

            let parsed = Envelope::parse(&envelope.to_xml()).unwrap();

            assert_eq!(parsed.header.action, subcode.action(), "{subcode}");
            assert_eq!(parsed.body, envelope.body, "{subcode}");
        }
    }

    #[test]
    fn unknown_subcode_keeps_namespace() {
        let fault = Fault::new(FaultSubcode::Other { namespace: Some("urn:vendor".into()), name: "Odd".into() }, "odd");
        let envelope = Envelope::fault(None, fault.clone());

        let parsed = Envelope::parse(&envelope.to_xml()).unwrap();

        assert_eq!(parsed.body, Body::Fault(fault));
        assert_eq!(parsed.header.action, action::WSMAN_FAULT);
    }

    #[test]
    fn parse_firmware_destination_unreachable() {
        let xml = concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
            r#"xmlns:a="http://www.w3.org/2003/05/soap-envelope"><a:Header><b:RelatesTo>2</b:RelatesTo>"#,
            r#"<b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action></a:Header>"#,
            r#"<a:Body><a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>b:DestinationUnreachable</a:Value>"#,
            r#"</a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">No route can be determined.</a:Text></a:Reason>"#,
            r#"<a:Detail></a:Detail></a:Fault></a:Body></a:Envelope>"#,
        );

        let Body::Fault(fault) = Envelope::parse(xml).unwrap().body else { panic!("not a fault") };

        assert_eq!(fault.code, FaultCode::Sender);
        assert_eq!(fault.subcode, FaultSubcode::DestinationUnreachable);
        assert_eq!(fault.reason, "No route can be determined.");
        assert_eq!(fault.detail, None);
        assert_eq!(fault.http_status(), 400);
    }

    #[test]
    fn display_names_protocol_prefix() {
        assert_eq!(FaultSubcode::ActionNotSupported.to_string(), "wsa:ActionNotSupported");
        assert_eq!(FaultSubcode::AccessDenied.to_string(), "wsman:AccessDenied");
        assert_eq!(FaultSubcode::InvalidEnumerationContext.to_string(), "wsen:InvalidEnumerationContext");
        assert_eq!(Fault::new(FaultSubcode::InternalError, "x").http_status(), 500);
    }
}
