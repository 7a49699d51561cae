//! WS-Addressing endpoint references, with which AMT classes point at one instance of
//! another class: `AMT_TLSCredentialContext.ElementInContext`, the `KeyPair` that
//! GenerateKeyPair returns, the `ResourceCreated` of a Create response.

use std::fmt::Write as _;

use super::envelope::Selector;
use super::xml::{XmlElement, escape};
use super::{WSMAN_PATH, ns};

/// An endpoint reference: the `wsa:Address`, and the `wsman:ResourceURI` and
/// `wsman:SelectorSet` inside `wsa:ReferenceParameters`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointReference {
    /// `wsa:Address`: `/wsman` on AMT, or the anonymous address in some responses.
    pub address: String,
    pub resource_uri: String,
    pub selectors: Vec<Selector>,
}

impl EndpointReference {
    /// Points at the instance of `resource_uri` whose `InstanceID` is `instance_id`.
    pub fn instance(resource_uri: &str, instance_id: &str) -> Self {
        let selectors = vec![Selector { name: "InstanceID".into(), value: instance_id.into() }];
        Self { address: WSMAN_PATH.into(), resource_uri: resource_uri.into(), selectors }
    }

    /// Value of a selector, by name.
    pub fn selector(&self, name: &str) -> Option<&str> {
        self.selectors.iter().find(|selector| selector.name == name).map(|selector| selector.value.as_str())
    }

    /// Writes the reference's children, for the caller to wrap in the property element.
    pub(crate) fn emit_children(&self, out: &mut String) {
        let _ = write!(out, "<a:Address>{}</a:Address><a:ReferenceParameters>", escape(&self.address));
        let _ = write!(out, "<w:ResourceURI>{}</w:ResourceURI>", escape(&self.resource_uri));
        emit_selector_set(out, &self.selectors);
        out.push_str("</a:ReferenceParameters>");
    }

    /// Reads a reference from the element that holds `wsa:Address` and
    /// `wsa:ReferenceParameters`, or returns `None` when `element` holds neither.
    pub(crate) fn parse(element: &XmlElement) -> Option<Self> {
        let address = element.child(ns::ADDRESSING, "Address");
        let parameters = element.child(ns::ADDRESSING, "ReferenceParameters");
        if address.is_none() && parameters.is_none() {
            return None;
        }

        let resource_uri = parameters.and_then(|parameters| parameters.child(ns::WSMAN, "ResourceURI"));
        let selectors = parameters.and_then(|parameters| parameters.child(ns::WSMAN, "SelectorSet"));
        Some(Self {
            address: address.map(|address| address.trimmed_text().to_owned()).unwrap_or_default(),
            resource_uri: resource_uri.map(|uri| uri.trimmed_text().to_owned()).unwrap_or_default(),
            selectors: selectors.map(parse_selector_set).unwrap_or_default(),
        })
    }
}

/// Writes a `wsman:SelectorSet`, or nothing when there are no selectors.
pub(crate) fn emit_selector_set(out: &mut String, selectors: &[Selector]) {
    if selectors.is_empty() {
        return;
    }
    out.push_str("<w:SelectorSet>");
    for selector in selectors {
        let _ = write!(out, r#"<w:Selector Name="{}">{}</w:Selector>"#, escape(&selector.name), escape(&selector.value));
    }
    out.push_str("</w:SelectorSet>");
}

/// Reads the `wsman:Selector` children of a `wsman:SelectorSet`.
pub(crate) fn parse_selector_set(set: &XmlElement) -> Vec<Selector> {
    set.children
        .iter()
        .filter(|child| child.is(ns::WSMAN, "Selector"))
        .map(|element| Selector {
            name: element.attribute("Name").unwrap_or_default().to_owned(),
            value: element.trimmed_text().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amt::wsman::{CimObject, Envelope, uri};

    #[test]
    fn reference_round_trips_in_object() {
        let key_pair = EndpointReference::instance(uri::AMT_PUBLIC_PRIVATE_KEY_PAIR, "Intel(r) AMT Key: Handle: 0");
        let output = CimObject::new("GenerateKeyPair_OUTPUT", uri::AMT_PUBLIC_KEY_MANAGEMENT_SERVICE)
            .with_reference("KeyPair", key_pair.clone())
            .with("ReturnValue", 0);

        let parsed = Envelope::parse(&Envelope::put(output.clone(), "1").to_xml()).unwrap();

        let object = parsed.into_object("GenerateKeyPair_OUTPUT").unwrap();
        assert_eq!(object, output);
        assert_eq!(object.reference("KeyPair").unwrap().selector("InstanceID"), Some("Intel(r) AMT Key: Handle: 0"));
    }

    /// The Create body MeshCentral 1.1.55 sends for AMT_TLSCredentialContext: the
    /// references are raw XML with the `a:` and `w:` prefixes of its envelope.
    #[test]
    fn reference_parses_meshcentral_create_body() {
        let xml = concat!(
            r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
            r#"xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header>"#,
            r#"<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action><a:To>/wsman</a:To>"#,
            r#"<w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext</w:ResourceURI>"#,
            r#"<a:MessageID>12</a:MessageID></Header><Body><g:AMT_TLSCredentialContext xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext">"#,
            r#"<g:ElementInContext><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate</w:ResourceURI>"#,
            r#"<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT Certificate: Handle: 1</w:Selector></w:SelectorSet></a:ReferenceParameters></g:ElementInContext>"#,
            r#"<g:ElementProvidingContext><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSProtocolEndpointCollection</w:ResourceURI>"#,
            r#"<w:SelectorSet><w:Selector Name="ElementName">TLSProtocolEndpointInstances Collection</w:Selector></w:SelectorSet></a:ReferenceParameters></g:ElementProvidingContext>"#,
            r#"</g:AMT_TLSCredentialContext></Body></Envelope>"#,
        );

        let object = Envelope::parse(xml).unwrap().into_object("AMT_TLSCredentialContext").unwrap();

        let certificate = object.reference("ElementInContext").unwrap();
        assert_eq!(certificate.resource_uri, uri::AMT_PUBLIC_KEY_CERTIFICATE);
        assert_eq!(certificate.selector("InstanceID"), Some("Intel(r) AMT Certificate: Handle: 1"));
        let collection = object.reference("ElementProvidingContext").unwrap();
        assert_eq!(collection.selector("ElementName"), Some("TLSProtocolEndpointInstances Collection"));
        assert!(object.properties.is_empty());
    }
}
