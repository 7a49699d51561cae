//! The SOAP envelope: WS-Addressing and WS-Management headers, and the body kinds used
//! during setup.

use std::fmt::Write as _;

use uuid::Uuid;

use super::fault::Fault;
use super::reference::{EndpointReference, emit_selector_set, parse_selector_set};
use super::xml::{XmlElement, escape, parse_document};
use super::{ANONYMOUS, WSMAN_PATH, WsManError, action, ns};

/// Prefixes this module writes; readers resolve whatever prefixes the peer used.
const PREFIXES: &str = concat!(
    r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
    r#"xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" "#,
    r#"xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" "#,
    r#"xmlns:t="http://schemas.xmlsoap.org/ws/2004/09/transfer""#,
);

/// The class namespaces of a body, in order of first use; the one at index `i` is bound
/// to the prefix `h{i}`.
struct ClassPrefixes<'a>(Vec<&'a str>);

impl<'a> ClassPrefixes<'a> {
    fn of(body: &'a Body) -> Self {
        let objects: Vec<&CimObject> = match body {
            Body::Object(object) => vec![object],
            Body::PullResponse { items, .. } => items.iter().collect(),
            _ => Vec::new(),
        };
        let mut namespaces: Vec<&str> = Vec::new();
        for object in objects {
            if !namespaces.contains(&object.namespace.as_str()) {
                namespaces.push(&object.namespace);
            }
        }
        Self(namespaces)
    }

    fn prefix(&self, namespace: &str) -> String {
        let index = self.0.iter().position(|known| *known == namespace).unwrap_or_default();
        format!("h{index}")
    }
}

/// Timeout a request offers the ME, as MeshCentral and Open AMT clients send it.
const OPERATION_TIMEOUT: &str = "PT60S";

/// One WS-Management message, request or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub header: Header,
    pub body: Body,
}

/// The addressing headers of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `wsa:Action`: the operation of a request, or the kind of a response.
    pub action: String,
    /// `wsa:To`: `/wsman` in requests, the anonymous address in responses.
    pub to: Option<String>,
    /// `wsman:ResourceURI`: the class the operation applies to.
    pub resource_uri: Option<String>,
    /// `wsa:MessageID`.
    pub message_id: Option<String>,
    /// `wsa:ReplyTo/wsa:Address`.
    pub reply_to: Option<String>,
    /// `wsa:RelatesTo`: in a response, the `MessageID` of its request.
    pub relates_to: Option<String>,
    /// `wsman:SelectorSet`: which instance of the class.
    pub selectors: Vec<Selector>,
    /// `wsman:OperationTimeout`, an xs:duration such as `PT60S`.
    pub operation_timeout: Option<String>,
}

/// A `wsman:Selector`: one key property and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub value: String,
}

/// The content of a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Get requests and some responses have an empty body.
    Empty,
    /// A class instance (Get response, Put request and response) or a method's input or
    /// output (`SetMEBxPassword_INPUT`, `CommitChanges_OUTPUT`).
    Object(CimObject),
    Enumerate,
    EnumerateResponse {
        context: String,
    },
    Pull {
        context: String,
        max_elements: Option<u32>,
    },
    PullResponse {
        items: Vec<CimObject>,
        end_of_sequence: bool,
    },
    /// WS-Transfer CreateResponse: where the new instance is.
    ResourceCreated(EndpointReference),
    Fault(Fault),
}

/// An element in a class's namespace with one child element per property, which is the
/// shape of both class instances and method parameters in AMT's WS-Management binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CimObject {
    /// Element name: the class name (`AMT_GeneralSettings`) or `<Method>_INPUT` / `_OUTPUT`.
    pub name: String,
    /// Element namespace: the class's resource URI.
    pub namespace: String,
    /// Properties in document order; array properties repeat their name.
    pub properties: Vec<(String, String)>,
    /// Properties that are endpoint references, in document order. They are written
    /// after the plain properties.
    pub references: Vec<(String, EndpointReference)>,
}

impl CimObject {
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self { name: name.into(), namespace: namespace.into(), properties: Vec::new(), references: Vec::new() }
    }

    /// Appends a property.
    pub fn with(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.properties.push((name.into(), value.to_string()));
        self
    }

    /// Appends a property that is an endpoint reference.
    pub fn with_reference(mut self, name: impl Into<String>, reference: EndpointReference) -> Self {
        self.references.push((name.into(), reference));
        self
    }

    /// First endpoint reference of that name.
    pub fn reference(&self, name: &str) -> Option<&EndpointReference> {
        self.references.iter().find(|(key, _)| key == name).map(|(_, reference)| reference)
    }

    /// First value of a property.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// First value of a property that must be present.
    pub fn require(&self, name: &'static str) -> Result<&str, WsManError> {
        self.property(name).ok_or_else(|| WsManError::MissingProperty { class: self.name.clone(), property: name })
    }

    /// Parses a required property with `FromStr`.
    pub fn parse_property<T: std::str::FromStr>(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<T, WsManError> {
        let value = self.require(name)?;
        value.trim().parse().map_err(|_| WsManError::InvalidValue {
            field: format!("{}.{name}", self.name),
            value: value.into(),
            expected,
        })
    }

    /// Parses an optional xs:boolean property.
    pub fn bool_property(&self, name: &'static str) -> Result<Option<bool>, WsManError> {
        self.property(name)
            .map(|value| match value.trim() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(WsManError::InvalidValue {
                    field: format!("{}.{name}", self.name),
                    value: value.into(),
                    expected: "true or false",
                }),
            })
            .transpose()
    }

    /// Writes the element with `prefix`, which the envelope binds to the namespace.
    fn emit(&self, out: &mut String, prefix: &str) {
        let name = &self.name;
        let _ = write!(out, "<{prefix}:{name}>");
        for (key, value) in &self.properties {
            let _ = write!(out, "<{prefix}:{key}>{}</{prefix}:{key}>", escape(value));
        }
        for (key, reference) in &self.references {
            let _ = write!(out, "<{prefix}:{key}>");
            reference.emit_children(out);
            let _ = write!(out, "</{prefix}:{key}>");
        }
        let _ = write!(out, "</{prefix}:{name}>");
    }

    fn from_element(element: &XmlElement) -> Self {
        let mut object = Self::new(element.name.clone(), element.namespace.clone().unwrap_or_default());
        for child in &element.children {
            match EndpointReference::parse(child) {
                Some(reference) => object.references.push((child.name.clone(), reference)),
                None => object.properties.push((child.name.clone(), child.text.clone())),
            }
        }
        object
    }
}

impl Envelope {
    /// Creates a request to the ME's `/wsman` endpoint.
    pub fn request(action: impl Into<String>, resource_uri: &str, message_id: &str, body: Body) -> Self {
        let header = Header {
            action: action.into(),
            to: Some(WSMAN_PATH.into()),
            resource_uri: Some(resource_uri.into()),
            message_id: Some(message_id.into()),
            reply_to: Some(ANONYMOUS.into()),
            relates_to: None,
            selectors: Vec::new(),
            operation_timeout: Some(OPERATION_TIMEOUT.into()),
        };
        Self { header, body }
    }

    /// Creates a WS-Transfer Get of a class's instance.
    pub fn get(resource_uri: &str, message_id: &str) -> Self {
        Self::request(action::GET, resource_uri, message_id, Body::Empty)
    }

    /// Creates a WS-Transfer Put of a whole instance.
    pub fn put(object: CimObject, message_id: &str) -> Self {
        let resource_uri = object.namespace.clone();
        Self::request(action::PUT, &resource_uri, message_id, Body::Object(object))
    }

    pub fn enumerate(resource_uri: &str, message_id: &str) -> Self {
        Self::request(action::ENUMERATE, resource_uri, message_id, Body::Enumerate)
    }

    pub fn pull(resource_uri: &str, context: &str, max_elements: Option<u32>, message_id: &str) -> Self {
        Self::request(action::PULL, resource_uri, message_id, Body::Pull { context: context.into(), max_elements })
    }

    /// Creates a WS-Transfer Create of a new instance.
    pub fn create(object: CimObject, message_id: &str) -> Self {
        let resource_uri = object.namespace.clone();
        Self::request(action::CREATE, &resource_uri, message_id, Body::Object(object))
    }

    /// Creates a method invocation, whose `input` is the `<Method>_INPUT` element.
    pub fn invoke(resource_uri: &str, method: &str, input: CimObject, message_id: &str) -> Self {
        Self::request(action::invoke(resource_uri, method), resource_uri, message_id, Body::Object(input))
    }

    /// Adds a selector to the header.
    pub fn with_selector(mut self, name: &str, value: &str) -> Self {
        self.header.selectors.push(Selector { name: name.into(), value: value.into() });
        self
    }

    /// Creates a response to `request`, related to it by its `MessageID`.
    pub fn reply(request: Option<&Header>, action: impl Into<String>, body: Body) -> Self {
        let header = Header {
            action: action.into(),
            to: Some(ANONYMOUS.into()),
            resource_uri: request.and_then(|request| request.resource_uri.clone()),
            message_id: Some(format!("uuid:{}", Uuid::new_v4())),
            reply_to: None,
            relates_to: request.and_then(|request| request.message_id.clone()),
            selectors: Vec::new(),
            operation_timeout: None,
        };
        Self { header, body }
    }

    /// Creates a fault in response to `request`, with the action its subcode's protocol
    /// defines.
    pub fn fault(request: Option<&Header>, fault: Fault) -> Self {
        let action = fault.subcode.action();
        Self::reply(request, action, Body::Fault(fault))
    }

    /// Returns the body's object, or an error naming what came instead.
    pub fn into_object(self, expected: &str) -> Result<CimObject, WsManError> {
        match self.body {
            Body::Object(object) if object.name == expected => Ok(object),
            other => Err(WsManError::UnexpectedBody { expected: expected.into(), found: other.describe() }),
        }
    }

    /// Encodes the envelope as UTF-8 XML. Empty elements are written with an end tag, as
    /// AMT firmware writes them: MeshCentral 1.1.55 reads `<a/>` as an element left open.
    ///
    /// The namespaces of the classes in the body are declared on the envelope, with the
    /// prefixes `h0`, `h1`, ..., as firmware does: MeshCentral 1.1.55 reads an attribute
    /// on an instance element as part of the instance.
    pub fn to_xml(&self) -> String {
        let classes = ClassPrefixes::of(&self.body);
        let mut out = String::with_capacity(1024);
        let _ = write!(out, r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope {PREFIXES}"#);
        for (index, namespace) in classes.0.iter().enumerate() {
            let _ = write!(out, r#" xmlns:h{index}="{}""#, escape(namespace));
        }
        out.push_str("><s:Header>");
        self.header.emit(&mut out);
        out.push_str("</s:Header><s:Body>");
        self.body.emit(&mut out, &classes);
        out.push_str("</s:Body></s:Envelope>");
        out
    }

    /// Decodes an envelope, whatever prefixes the peer chose.
    pub fn parse(input: &str) -> Result<Self, WsManError> {
        let root = parse_document(input)?;
        if !root.is(ns::SOAP, "Envelope") {
            return Err(WsManError::NotAnEnvelope { found: qualified(&root) });
        }

        let header = root.child(ns::SOAP, "Header").ok_or(WsManError::MissingElement { element: "s:Header" })?;
        let body = root.child(ns::SOAP, "Body").ok_or(WsManError::MissingElement { element: "s:Body" })?;
        Ok(Self { header: Header::parse(header)?, body: Body::parse(body)? })
    }
}

impl Header {
    fn emit(&self, out: &mut String) {
        let _ = write!(out, r#"<a:Action s:mustUnderstand="true">{}</a:Action>"#, escape(&self.action));
        if let Some(to) = &self.to {
            let _ = write!(out, r#"<a:To s:mustUnderstand="true">{}</a:To>"#, escape(to));
        }
        if let Some(uri) = &self.resource_uri {
            let _ = write!(out, r#"<w:ResourceURI s:mustUnderstand="true">{}</w:ResourceURI>"#, escape(uri));
        }
        if let Some(id) = &self.message_id {
            let _ = write!(out, r#"<a:MessageID s:mustUnderstand="true">{}</a:MessageID>"#, escape(id));
        }
        if let Some(address) = &self.reply_to {
            let _ = write!(out, "<a:ReplyTo><a:Address>{}</a:Address></a:ReplyTo>", escape(address));
        }
        if let Some(id) = &self.relates_to {
            let _ = write!(out, "<a:RelatesTo>{}</a:RelatesTo>", escape(id));
        }
        if let Some(timeout) = &self.operation_timeout {
            let _ = write!(out, "<w:OperationTimeout>{}</w:OperationTimeout>", escape(timeout));
        }
        self.emit_selectors(out);
    }

    fn emit_selectors(&self, out: &mut String) {
        emit_selector_set(out, &self.selectors);
    }

    fn parse(header: &XmlElement) -> Result<Self, WsManError> {
        let text = |namespace: &str, name: &str| {
            header.child(namespace, name).map(|element| element.trimmed_text().to_owned())
        };

        let action = text(ns::ADDRESSING, "Action").ok_or(WsManError::MissingElement { element: "wsa:Action" })?;
        let reply_to = header
            .child(ns::ADDRESSING, "ReplyTo")
            .and_then(|reply_to| reply_to.child(ns::ADDRESSING, "Address"))
            .map(|address| address.trimmed_text().to_owned());
        let selectors = header.child(ns::WSMAN, "SelectorSet").map(parse_selector_set).unwrap_or_default();

        Ok(Self {
            action,
            to: text(ns::ADDRESSING, "To"),
            resource_uri: text(ns::WSMAN, "ResourceURI"),
            message_id: text(ns::ADDRESSING, "MessageID"),
            reply_to,
            relates_to: text(ns::ADDRESSING, "RelatesTo"),
            selectors,
            operation_timeout: text(ns::WSMAN, "OperationTimeout"),
        })
    }

    /// Value of a selector, by name.
    pub fn selector(&self, name: &str) -> Option<&str> {
        self.selectors.iter().find(|selector| selector.name == name).map(|selector| selector.value.as_str())
    }
}

impl Body {
    /// Short name of the body kind, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Empty => "empty body".into(),
            Self::Object(object) => object.name.clone(),
            Self::Enumerate => "Enumerate".into(),
            Self::EnumerateResponse { .. } => "EnumerateResponse".into(),
            Self::Pull { .. } => "Pull".into(),
            Self::PullResponse { .. } => "PullResponse".into(),
            Self::ResourceCreated(_) => "ResourceCreated".into(),
            Self::Fault(fault) => format!("fault {}", fault.subcode),
        }
    }

    fn emit(&self, out: &mut String, classes: &ClassPrefixes<'_>) {
        match self {
            Self::Empty => {}
            Self::Object(object) => object.emit(out, &classes.prefix(&object.namespace)),
            Self::Enumerate => out.push_str("<n:Enumerate></n:Enumerate>"),
            Self::EnumerateResponse { context } => {
                let _ = write!(
                    out,
                    "<n:EnumerateResponse><n:EnumerationContext>{}</n:EnumerationContext></n:EnumerateResponse>",
                    escape(context)
                );
            }
            Self::Pull { context, max_elements } => {
                let _ = write!(out, "<n:Pull><n:EnumerationContext>{}</n:EnumerationContext>", escape(context));
                if let Some(max) = max_elements {
                    let _ = write!(out, "<n:MaxElements>{max}</n:MaxElements>");
                }
                out.push_str("</n:Pull>");
            }
            Self::PullResponse { items, end_of_sequence } => {
                out.push_str("<n:PullResponse><n:Items>");
                items.iter().for_each(|item| item.emit(out, &classes.prefix(&item.namespace)));
                out.push_str("</n:Items>");
                if *end_of_sequence {
                    out.push_str("<n:EndOfSequence></n:EndOfSequence>");
                }
                out.push_str("</n:PullResponse>");
            }
            Self::ResourceCreated(reference) => {
                out.push_str("<t:ResourceCreated>");
                reference.emit_children(out);
                out.push_str("</t:ResourceCreated>");
            }
            Self::Fault(fault) => fault.emit(out),
        }
    }

    fn parse(body: &XmlElement) -> Result<Self, WsManError> {
        let Some(element) = body.children.first() else {
            return Ok(Self::Empty);
        };
        let enumeration = |name| element.is(ns::ENUMERATION, name);
        let context = || {
            element
                .child(ns::ENUMERATION, "EnumerationContext")
                .map(|context| context.trimmed_text().to_owned())
                .ok_or(WsManError::MissingElement { element: "wsen:EnumerationContext" })
        };

        if enumeration("Enumerate") {
            Ok(Self::Enumerate)
        } else if enumeration("EnumerateResponse") {
            Ok(Self::EnumerateResponse { context: context()? })
        } else if enumeration("Pull") {
            Ok(Self::Pull { context: context()?, max_elements: parse_max_elements(element)? })
        } else if enumeration("PullResponse") {
            Ok(parse_pull_response(element))
        } else if element.is(ns::TRANSFER, "ResourceCreated") {
            let reference = EndpointReference::parse(element)
                .ok_or(WsManError::MissingElement { element: "wxf:ResourceCreated/wsa:Address" })?;
            Ok(Self::ResourceCreated(reference))
        } else if element.is(ns::SOAP, "Fault") {
            Ok(Self::Fault(Fault::parse(element)?))
        } else {
            Ok(Self::Object(CimObject::from_element(element)))
        }
    }
}

fn parse_max_elements(pull: &XmlElement) -> Result<Option<u32>, WsManError> {
    let Some(max) = pull.child(ns::ENUMERATION, "MaxElements") else {
        return Ok(None);
    };
    let text = max.trimmed_text();
    text.parse().map(Some).map_err(|_| WsManError::InvalidValue {
        field: "wsen:MaxElements".into(),
        value: text.into(),
        expected: "a positive integer",
    })
}

fn parse_pull_response(element: &XmlElement) -> Body {
    let items = element
        .child(ns::ENUMERATION, "Items")
        .map(|items| items.children.iter().map(CimObject::from_element).collect())
        .unwrap_or_default();
    let end_of_sequence = element.child(ns::ENUMERATION, "EndOfSequence").is_some();
    Body::PullResponse { items, end_of_sequence }
}

fn qualified(element: &XmlElement) -> String {
    match &element.namespace {
        Some(namespace) => format!("{{{namespace}}}{}", element.name),
        None => element.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amt::wsman::{FaultSubcode, uri};

    #[test]
    fn get_round_trip_with_selector() {
        let request = Envelope::get(uri::CIM_SOFTWARE_IDENTITY, "1").with_selector("InstanceID", "AMT");

        let parsed = Envelope::parse(&request.to_xml()).unwrap();

        assert_eq!(parsed, request);
        assert_eq!(parsed.header.selector("InstanceID"), Some("AMT"));
        assert_eq!(parsed.header.to.as_deref(), Some("/wsman"));
        assert_eq!(parsed.header.reply_to.as_deref(), Some(ANONYMOUS));
    }

    #[test]
    fn invoke_round_trip_escapes_values() {
        let input = CimObject::new("SetMEBxPassword_INPUT", uri::AMT_SETUP_AND_CONFIGURATION_SERVICE)
            .with("Password", "P@ss<&>\"'w0rd");
        let request = Envelope::invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, "SetMEBxPassword", input, "uuid:7");

        let parsed = Envelope::parse(&request.to_xml()).unwrap();

        assert_eq!(
            parsed.header.action,
            "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService/SetMEBxPassword"
        );
        assert_eq!(parsed, request);
    }

    #[test]
    fn enumerate_and_pull_round_trip() {
        let item = CimObject::new("CIM_SoftwareIdentity", uri::CIM_SOFTWARE_IDENTITY)
            .with("InstanceID", "AMT")
            .with("VersionString", "4.1.1");
        let messages = [
            Envelope::enumerate(uri::CIM_SOFTWARE_IDENTITY, "1"),
            Envelope::pull(uri::CIM_SOFTWARE_IDENTITY, "ctx-1", Some(999), "2"),
            Envelope::reply(None, action::ENUMERATE_RESPONSE, Body::EnumerateResponse { context: "ctx-1".into() }),
            Envelope::reply(
                None,
                action::PULL_RESPONSE,
                Body::PullResponse { items: vec![item.clone(), item], end_of_sequence: true },
            ),
        ];

        for message in messages {
            assert_eq!(Envelope::parse(&message.to_xml()).unwrap(), message);
        }
    }

    #[test]
    fn reply_relates_to_request() {
        let request = Envelope::get(uri::AMT_GENERAL_SETTINGS, "42");

        let reply = Envelope::reply(Some(&request.header), action::GET_RESPONSE, Body::Empty);

        assert_eq!(reply.header.relates_to.as_deref(), Some("42"));
        assert_eq!(reply.header.resource_uri.as_deref(), Some(uri::AMT_GENERAL_SETTINGS));
        assert!(reply.header.message_id.unwrap().starts_with("uuid:"));
    }

    /// A Get response as AMT firmware writes it: other prefixes, the soap namespace as
    /// `a:`, and the class namespace declared on the envelope.
    #[test]
    fn parse_firmware_style_response() {
        let xml = concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" "#,
            r#"xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" "#,
            r#"xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"><a:Header>"#,
            r#"<b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>1</b:RelatesTo>"#,
            r#"<b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</b:Action>"#,
            r#"<b:MessageID>uuid:00000000-8086-8086-8086-000000000001</b:MessageID>"#,
            r#"<c:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</c:ResourceURI></a:Header>"#,
            r#"<a:Body><g:AMT_GeneralSettings><g:DigestRealm>Digest:0123456789ABCDEF0123456789ABCDEF</g:DigestRealm>"#,
            r#"<g:DomainName></g:DomainName></g:AMT_GeneralSettings></a:Body></a:Envelope>"#,
        );

        let envelope = Envelope::parse(xml).unwrap();

        assert_eq!(envelope.header.action, action::GET_RESPONSE);
        assert_eq!(envelope.header.relates_to.as_deref(), Some("1"));
        let object = envelope.into_object("AMT_GeneralSettings").unwrap();
        assert_eq!(object.namespace, uri::AMT_GENERAL_SETTINGS);
        assert_eq!(object.property("DigestRealm"), Some("Digest:0123456789ABCDEF0123456789ABCDEF"));
        assert_eq!(object.property("DomainName"), Some(""));
    }

    #[test]
    fn parse_rejects_missing_parts() {
        let no_action =
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>"#;
        let no_body = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>"#;
        let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>"#;

        assert_eq!(Envelope::parse(no_action), Err(WsManError::MissingElement { element: "wsa:Action" }));
        assert_eq!(Envelope::parse(no_body), Err(WsManError::MissingElement { element: "s:Body" }));
        assert!(matches!(Envelope::parse(soap11), Err(WsManError::NotAnEnvelope { .. })));
    }

    #[test]
    fn into_object_names_unexpected_body() {
        let fault = Envelope::fault(None, Fault::new(FaultSubcode::ActionNotSupported, "no"));

        let error = fault.into_object("CommitChanges_OUTPUT").unwrap_err();

        assert!(
            matches!(error, WsManError::UnexpectedBody { ref found, .. } if found.contains("ActionNotSupported")),
            "{error}"
        );
    }
}
