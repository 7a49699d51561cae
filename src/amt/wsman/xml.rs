//! A small namespace-resolved element tree over quick-xml, and the escaping used when
//! writing envelopes.
//!
//! WS-Management bodies are shallow and name every element by namespace and local name,
//! while peers choose their own prefixes (real firmware replies with `a:`, `b:`, `c:`,
//! clients send `s:`, `wsa:` or a default namespace). Reading into a tree keyed by
//! namespace URI lets the envelope code match elements whatever prefix the peer chose.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, QName, ResolveResult};
use quick_xml::reader::NsReader;

use super::WsManError;

/// Deepest element nesting accepted; WS-Management envelopes need fewer than ten levels,
/// and a limit keeps a hostile peer from exhausting the stack of the tree builder.
const MAX_DEPTH: usize = 32;

/// One element with its resolved namespace, attributes, children and text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct XmlElement {
    pub namespace: Option<String>,
    pub name: String,
    /// Attributes as (namespace, local name, value); namespace declarations are left out.
    pub attributes: Vec<(Option<String>, String, String)>,
    pub children: Vec<XmlElement>,
    /// Concatenated character data directly inside this element, unescaped.
    pub text: String,
    /// Namespace bound to the prefix of `text` when the text is a `prefix:local` name
    /// whose prefix is in scope, as in a SOAP fault's `<Value>s:Sender</Value>`.
    pub text_namespace: Option<String>,
}

impl XmlElement {
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace.as_deref() == Some(namespace) && self.name == name
    }

    /// First child with this namespace and local name.
    pub fn child(&self, namespace: &str, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|child| child.is(namespace, name))
    }

    /// Value of an attribute without a namespace.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(namespace, local, _)| namespace.is_none() && local == name)
            .map(|(_, _, value)| value.as_str())
    }

    /// Text with the surrounding white space of pretty-printed documents removed.
    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }

    /// Local part of a `prefix:local` text value, or the whole text without a prefix.
    pub fn text_local_name(&self) -> &str {
        let text = self.trimmed_text();
        text.split_once(':').map_or(text, |(_, local)| local)
    }
}

/// Parses a whole document into its root element.
pub(crate) fn parse_document(input: &str) -> Result<XmlElement, WsManError> {
    let mut reader = NsReader::from_str(input);
    let mut stack: Vec<XmlElement> = Vec::new();

    loop {
        let position = reader.buffer_position();
        let (resolved, event) =
            reader.read_resolved_event().map_err(|error| WsManError::Xml { position, reason: error.to_string() })?;
        let namespace = namespace_of(&resolved);
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(WsManError::TooDeep { max: MAX_DEPTH });
                }
                stack.push(open_element(&reader, namespace, &start)?);
            }
            Event::Empty(start) => {
                let element = open_element(&reader, namespace, &start)?;
                if let Some(root) = close_element(&mut stack, element) {
                    return finish(&mut reader, root);
                }
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or(WsManError::Xml {
                    position: reader.buffer_position(),
                    reason: "unexpected end tag".into(),
                })?;
                element.text_namespace = text_prefix_namespace(&reader, &element.text);
                if let Some(root) = close_element(&mut stack, element) {
                    return finish(&mut reader, root);
                }
            }
            Event::Text(text) => append_text(&mut stack, &text.xml10_content()),
            Event::CData(data) => append_text(&mut stack, &data.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference).ok_or_else(|| WsManError::Xml {
                    position: reader.buffer_position(),
                    reason: format!("unknown entity reference &{};", reference.xml10_content()),
                })?;
                append_text(&mut stack, &resolved);
            }
            Event::DocType(_) => {
                // A DTD could declare entities; no WS-Management peer sends one.
                return Err(WsManError::Xml {
                    position: reader.buffer_position(),
                    reason: "document type declarations are not accepted".into(),
                });
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return Err(WsManError::Xml {
                    position: reader.buffer_position(),
                    reason: "document ended before its root element closed".into(),
                });
            }
        }
    }
}

fn finish(reader: &mut NsReader<&[u8]>, root: XmlElement) -> Result<XmlElement, WsManError> {
    loop {
        match reader.read_event().map_err(|error| xml_error(reader, error))? {
            Event::Eof => return Ok(root),
            Event::Text(text) if text.xml10_content().trim().is_empty() => {}
            Event::Comment(_) | Event::PI(_) => {}
            _ => {
                return Err(WsManError::Xml {
                    position: reader.buffer_position(),
                    reason: "content after the root element".into(),
                });
            }
        }
    }
}

fn open_element(
    reader: &NsReader<&[u8]>,
    namespace: Option<String>,
    start: &BytesStart<'_>,
) -> Result<XmlElement, WsManError> {
    let name = start.local_name().into_inner().to_owned();
    let mut attributes = Vec::new();

    for attribute in start.attributes() {
        let attribute = attribute
            .map_err(|error| WsManError::Xml { position: reader.buffer_position(), reason: error.to_string() })?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|error| WsManError::Xml { position: reader.buffer_position(), reason: error.to_string() })?;
        attributes.push((namespace_of(&resolved), local.into_inner().to_owned(), value.into_owned()));
    }
    Ok(XmlElement { namespace, name, attributes, ..XmlElement::default() })
}

/// Attaches a finished element to its parent, or returns it when it is the root.
fn close_element(stack: &mut [XmlElement], element: XmlElement) -> Option<XmlElement> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            None
        }
        None => Some(element),
    }
}

fn append_text(stack: &mut [XmlElement], text: &str) {
    if let Some(element) = stack.last_mut() {
        element.text.push_str(text);
    }
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    if reference.is_char_ref() {
        return reference.resolve_char_ref().ok().flatten().map(String::from);
    }
    let name = reference.xml10_content();
    quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
}

fn text_prefix_namespace(reader: &NsReader<&[u8]>, text: &str) -> Option<String> {
    let (prefix, _) = text.trim().split_once(':')?;
    let qualified = format!("{prefix}:x");
    let resolved = reader.resolver().resolve_prefix(QName(&qualified).prefix(), false);
    namespace_of(&resolved)
}

fn namespace_of(resolved: &ResolveResult<'_>) -> Option<String> {
    match resolved {
        ResolveResult::Bound(Namespace(uri)) => Some((*uri).to_owned()),
        ResolveResult::Unbound | ResolveResult::Unknown(_) => None,
    }
}

fn xml_error(reader: &NsReader<&[u8]>, error: quick_xml::Error) -> WsManError {
    WsManError::Xml { position: reader.buffer_position(), reason: error.to_string() }
}

/// Escapes text or an attribute value for output.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_resolves_prefixes_and_default_namespace() {
        let root = parse_document(
            r#"<?xml version="1.0"?><a:Root xmlns:a="urn:a" xmlns="urn:d"><Child Name="x">v</Child></a:Root>"#,
        )
        .unwrap();

        assert!(root.is("urn:a", "Root"));
        let child = root.child("urn:d", "Child").unwrap();
        assert_eq!(child.attribute("Name"), Some("x"));
        assert_eq!(child.text, "v");
    }

    #[test]
    fn parse_unescapes_entities_and_char_refs() {
        let root = parse_document("<r>a &amp; b &lt;&#65;&#x42;&gt; <![CDATA[<c>]]></r>").unwrap();

        assert_eq!(root.text, "a & b <AB> <c>");
    }

    #[test]
    fn parse_records_text_prefix_namespace() {
        let root = parse_document(r#"<s:V xmlns:s="urn:soap">s:Sender</s:V>"#).unwrap();

        assert_eq!(root.text_namespace.as_deref(), Some("urn:soap"));
        assert_eq!(root.text_local_name(), "Sender");
    }

    #[test]
    fn parse_rejects_bad_documents() {
        for input in ["", "<a>", "<a></b>", "<a/><b/>", "<!DOCTYPE a><a/>", "<a>&unknown;</a>", "<a x='1' x='2'/>"] {
            assert!(parse_document(input).is_err(), "accepted {input:?}");
        }
    }

    #[test]
    fn parse_rejects_deep_nesting() {
        let input = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);

        assert_eq!(parse_document(&input), Err(WsManError::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
    }
}
