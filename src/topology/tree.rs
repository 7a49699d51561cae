//! The topology file as a located YAML tree: every key and value in file order with its
//! line and column, duplicate keys kept, and scalars with the text as written.
//!
//! serde-saphyr parses the text, with its budgets and alias limits, into this tree. The
//! schema check then walks the tree, and the typed pass deserializes the checked tree
//! into the raw types (see `de`).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::{DuplicateKeyPolicy, ExternalMessageSource};

/// 1-based line and column of a value in the topology file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    line: u32,
    column: u32,
}

impl Location {
    /// Where the schema check put a placeholder for a missing or mistyped value, which it
    /// reported already; the resolver drops problems located here.
    pub const PLACEHOLDER: Self = Self { line: 0, column: 0 };

    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }

    pub fn line(&self) -> u64 {
        self.line.into()
    }

    pub fn column(&self) -> u64 {
        self.column.into()
    }

    pub fn is_placeholder(&self) -> bool {
        *self == Self::PLACEHOLDER
    }

    fn of(location: &serde_saphyr::Location) -> Self {
        let clamp = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        Self { line: clamp(location.line()), column: clamp(location.column()) }
    }
}

/// A raw value with the place it was written: the alias, for a value reached through one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub referenced: Location,
}

/// A YAML node of the topology file.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub at: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    /// Entries in file order, repeated keys included.
    Mapping(Vec<(Key, Node)>),
    /// Stands for a missing or mistyped required value that the schema check reported;
    /// the typed pass turns it into an empty value of whatever type is expected.
    Placeholder,
    /// A field of a struct that stands for a placeholder: `None` where the field is
    /// optional, an empty value like a placeholder's where it is required.
    Absent,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub text: String,
    pub at: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The text as written for plain scalars (`11.10`, `0x10`, `yes`), the content for
    /// quoted and block scalars.
    pub text: String,
    pub kind: ScalarKind,
}

/// What YAML 1.2's core schema makes of a scalar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalarKind {
    Null,
    Bool(bool),
    Integer(i128),
    Float,
    String,
}

impl Node {
    pub fn placeholder() -> Self {
        Self { value: Value::Placeholder, at: Location::PLACEHOLDER }
    }

    /// Describes the node for "found ..." in messages.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Scalar(Scalar { kind: ScalarKind::Null, .. }) => "an empty value".to_owned(),
            Value::Scalar(Scalar { kind: ScalarKind::String, text }) => format!("{text:?}"),
            Value::Scalar(Scalar { text, .. }) => text.clone(),
            Value::Sequence(_) => "a list".to_owned(),
            Value::Mapping(_) => "a mapping".to_owned(),
            Value::Placeholder | Value::Absent => "nothing".to_owned(),
        }
    }
}

/// Why the text could not be read as a YAML tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: Location,
    pub message: String,
}

/// Parser limits. A reference topology is 2 KB, about 150 values, at most 6 levels
/// deep. The limits leave room for hand-written fleets of thousands of clients, and
/// stop alias bombs, deep nesting and huge files within a second in a debug build
/// (tests/hostile_input.rs checks them under a memory limit).
mod limits {
    /// Nesting of mappings and lists; the deepest key, a custom hash's algorithm, is 6
    /// levels down.
    pub const MAX_DEPTH: usize = 32;
    /// Values after alias expansion, keys included: a client takes about 10, so a fleet
    /// of 5,000 written out fits.
    pub const MAX_NODES: usize = 100_000;
    pub const MAX_EVENTS: usize = 250_000;
    pub const MAX_ALIASES: usize = 10_000;
    pub const MAX_ANCHORS: usize = 10_000;
    /// Events replayed by aliases and merge keys in all: an alias bomb grows this
    /// exponentially. 20,000 is `<<: *defaults` of 8 values for 2,500 clients; a merge
    /// bomb at 100,000 took 2.5 s in a debug build, at 20,000 under 0.7 s.
    pub const MAX_REPLAYED_EVENTS: usize = 20_000;
    pub const MAX_REPLAY_DEPTH: usize = 16;
    /// Scalar text after alias expansion; twice the largest file read.
    pub const MAX_SCALAR_BYTES: usize = 8 * 1024 * 1024;
}

/// Parses topology text into a located tree.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let parsed: serde_saphyr::Spanned<ParsedNode> = serde_saphyr::from_str_with_options(text, options()).map_err(syntax_error)?;
    let mut tree = convert(parsed, text);

    // An empty document sits at the end of the file; its missing keys belong at the top.
    if matches!(&tree.value, Value::Scalar(Scalar { kind: ScalarKind::Null, text }) if text.is_empty()) {
        tree.at = Location::new(1, 1);
    }
    Ok(tree)
}

fn options() -> serde_saphyr::Options {
    let budget = serde_saphyr::budget! {
        max_depth: limits::MAX_DEPTH,
        flow_nesting_limit: limits::MAX_DEPTH,
        max_nodes: limits::MAX_NODES,
        max_events: limits::MAX_EVENTS,
        max_aliases: limits::MAX_ALIASES,
        max_anchors: limits::MAX_ANCHORS,
        max_total_scalar_bytes: limits::MAX_SCALAR_BYTES,
        max_documents: 1,
    };
    let alias_limits = serde_saphyr::alias_limits! {
        max_total_replayed_events: limits::MAX_REPLAYED_EVENTS,
        max_replay_stack_depth: limits::MAX_REPLAY_DEPTH,
    };
    serde_saphyr::options! {
        budget: budget,
        alias_limits: alias_limits,
        // Repeated keys reach the tree, so that the schema check names both lines.
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        // YAML 1.2 booleans only, as editors read the file: `yes` stays text.
        strict_booleans: true,
        // Messages name the topology file and its line themselves.
        with_snippet: false,
        emit_comments: false,
    }
}

fn syntax_error(error: serde_saphyr::Error) -> SyntaxError {
    let at = error.location().map(|location| Location::of(&location)).unwrap_or(Location::new(1, 1));
    let message = match inner_error(&error) {
        serde_saphyr::Error::Budget { breach, .. } => budget_message(breach),
        serde_saphyr::Error::AliasReplayLimitExceeded { .. } | serde_saphyr::Error::AliasExpansionLimitExceeded { .. } => {
            format!("aliases expand to more than {} values, which no topology needs", limits::MAX_REPLAYED_EVENTS)
        }
        serde_saphyr::Error::AliasReplayStackDepthExceeded { .. } => {
            format!("aliases nest more than {} levels deep, which no topology needs", limits::MAX_REPLAY_DEPTH)
        }
        serde_saphyr::Error::ExternalMessage { source, .. } if is_nesting_limit(source) => {
            format!("the YAML nests more than {} levels deep, which no topology needs", limits::MAX_DEPTH)
        }
        serde_saphyr::Error::MultipleDocuments { .. } => "the file holds more than one YAML document: a topology is one document, without `---` between parts".to_owned(),
        other => strip_location(&other.to_string()),
    };
    SyntaxError { at, message }
}

/// The error itself, without the snippet and alias wrappers around it.
fn inner_error(error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    match error.without_snippet() {
        serde_saphyr::Error::AliasError { error, .. } => inner_error(error),
        other => other,
    }
}

/// The parser stops flow collections (`[[[...`) at its own nesting limit, before the
/// budget's depth check sees them.
fn is_nesting_limit(source: &ExternalMessageSource) -> bool {
    matches!(source, ExternalMessageSource::Parser(error) if matches!(error.kind(), ErrorKind::RecursionLimitExceeded))
}

fn budget_message(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => format!("the YAML nests more than {} levels deep, which no topology needs", limits::MAX_DEPTH),
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => format!("the YAML holds more than {} values (after expanding aliases), which no topology needs", limits::MAX_NODES),
        BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => format!("the YAML uses more than {} aliases or anchors, which no topology needs", limits::MAX_ALIASES),
        BudgetBreach::Documents { .. } => "the file holds more than one YAML document: a topology is one document".to_owned(),
        other => format!("the YAML exceeds a parser limit ({other:?}), which no topology needs"),
    }
}

/// Removes the " at line L, column C" that serde-saphyr appends, because the message
/// gets the file's location in front.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The tree as serde-saphyr hands it over, before scalars get their written text back.
enum ParsedNode {
    Null,
    Bool(bool),
    Integer(i128),
    Float,
    String(String),
    Sequence(Vec<serde_saphyr::Spanned<ParsedNode>>),
    Mapping(Vec<(serde_saphyr::Spanned<ParsedNode>, serde_saphyr::Spanned<ParsedNode>)>),
}

impl<'de> Deserialize<'de> for ParsedNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParsedNodeVisitor)
    }
}

struct ParsedNodeVisitor;

impl<'de> Visitor<'de> for ParsedNodeVisitor {
    type Value = ParsedNode;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<ParsedNode, E> {
        Ok(ParsedNode::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<ParsedNode, E> {
        Ok(ParsedNode::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<ParsedNode, E> {
        Ok(ParsedNode::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<ParsedNode, E> {
        Ok(ParsedNode::Integer(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ParsedNode, E> {
        Ok(ParsedNode::Integer(value.into()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<ParsedNode, E> {
        Ok(ParsedNode::Integer(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<ParsedNode, E> {
        Ok(i128::try_from(value).map_or(ParsedNode::Float, ParsedNode::Integer))
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<ParsedNode, E> {
        Ok(ParsedNode::Float)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<ParsedNode, E> {
        Ok(ParsedNode::String(value.to_owned()))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<ParsedNode, E> {
        Ok(ParsedNode::String(String::from_utf8_lossy(value).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<ParsedNode, A::Error> {
        let mut nodes = Vec::new();
        while let Some(item) = items.next_element()? {
            nodes.push(item);
        }
        Ok(ParsedNode::Sequence(nodes))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<ParsedNode, A::Error> {
        let mut pairs = Vec::new();
        while let Some(key) = entries.next_key()? {
            let value = entries.next_value()?;
            pairs.push((key, value));
        }
        Ok(ParsedNode::Mapping(pairs))
    }
}

fn convert(parsed: serde_saphyr::Spanned<ParsedNode>, text: &str) -> Node {
    let at = Location::of(&parsed.referenced);
    let written = || written_text(&parsed.defined, text);
    let scalar = |kind| Value::Scalar(Scalar { text: written(), kind });

    let value = match parsed.value {
        ParsedNode::Null => scalar(ScalarKind::Null),
        ParsedNode::Bool(value) => scalar(ScalarKind::Bool(value)),
        ParsedNode::Integer(value) => scalar(ScalarKind::Integer(value)),
        ParsedNode::Float => scalar(ScalarKind::Float),
        ParsedNode::String(content) => Value::Scalar(Scalar { text: content, kind: ScalarKind::String }),
        ParsedNode::Sequence(items) => Value::Sequence(items.into_iter().map(|item| convert(item, text)).collect()),
        ParsedNode::Mapping(pairs) => Value::Mapping(pairs.into_iter().map(|(key, value)| (convert_key(key, text), convert(value, text))).collect()),
    };
    Node { value, at }
}

/// Keys are names, so a plain `90`, `yes` or `null` key is the text as written.
fn convert_key(parsed: serde_saphyr::Spanned<ParsedNode>, text: &str) -> Key {
    let at = Location::of(&parsed.referenced);
    let key_text = match &parsed.value {
        ParsedNode::String(content) => content.clone(),
        ParsedNode::Sequence(_) | ParsedNode::Mapping(_) => String::new(),
        _ => written_text(&parsed.defined, text),
    };
    Key { text: key_text, at }
}

/// The scalar's text as written, from its byte span in the input.
fn written_text(location: &serde_saphyr::Location, text: &str) -> String {
    let span = location.span();
    let range = span.byte_offset().zip(span.byte_len()).and_then(|(start, len)| {
        let start = usize::try_from(start).ok()?;
        Some(start..start.checked_add(usize::try_from(len).ok()?)?)
    });
    range.and_then(|range| text.get(range)).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(node: &Node) -> &[(Key, Node)] {
        match &node.value {
            Value::Mapping(pairs) => pairs,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    fn scalar(node: &Node) -> &Scalar {
        match &node.value {
            Value::Scalar(scalar) => scalar,
            other => panic!("expected a scalar, got {other:?}"),
        }
    }

    #[test]
    fn tree_keeps_written_text_and_kind() {
        let tree = parse("firmware: 11.10\nport: 0x10\nflag: yes\non: true\n90: x\nname: \"quoted\"\n").unwrap();
        let pairs = mapping(&tree);

        assert_eq!(scalar(&pairs[0].1), &Scalar { text: "11.10".into(), kind: ScalarKind::Float });
        assert_eq!(scalar(&pairs[1].1), &Scalar { text: "0x10".into(), kind: ScalarKind::Integer(16) });
        assert_eq!(scalar(&pairs[2].1), &Scalar { text: "yes".into(), kind: ScalarKind::String });
        assert_eq!(scalar(&pairs[3].1).kind, ScalarKind::Bool(true));
        assert_eq!(pairs[3].0.text, "on");
        assert_eq!(pairs[4].0.text, "90");
        assert_eq!(scalar(&pairs[5].1), &Scalar { text: "quoted".into(), kind: ScalarKind::String });
    }

    #[test]
    fn tree_locates_keys_and_values() {
        let tree = parse("a: 1\nb:\n  c: [x, y]\n").unwrap();
        let pairs = mapping(&tree);

        assert_eq!(pairs[1].0.at, Location::new(2, 1));
        let inner = mapping(&pairs[1].1);
        assert_eq!(inner[0].0.at, Location::new(3, 3));
        let Value::Sequence(items) = &inner[0].1.value else { panic!("list expected") };
        assert_eq!(items[1].at, Location::new(3, 10));
    }

    #[test]
    fn tree_keeps_duplicate_keys() {
        let tree = parse("a: 1\na: 2\n").unwrap();

        assert_eq!(mapping(&tree).len(), 2);
    }

    #[test]
    fn tree_expands_aliases_at_their_use() {
        let tree = parse("base: &b { vlan: 90 }\nc:\n  <<: *b\n").unwrap();
        let merged = mapping(&mapping(&tree)[1].1);

        assert_eq!(merged[0].0.text, "vlan");
        assert_eq!(scalar(&merged[0].1).text, "90");
        assert_eq!(merged[0].1.at.line(), 3);
    }

    #[test]
    fn syntax_error_located_without_library_words() {
        let error = parse("a: [1, 2\nb: c\n").unwrap_err();

        assert_eq!(error.at.line(), 2);
        assert!(!error.message.contains("at line"), "{}", error.message);
    }

    #[test]
    fn alias_bomb_stopped() {
        let mut text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
        for level in 1..10 {
            let aliases = vec![format!("*a{}", level - 1); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
        }

        let error = parse(&text).unwrap_err();

        assert!(error.message.contains("which no topology needs"), "{}", error.message);
    }

    #[test]
    fn deep_nesting_stopped() {
        let text = format!("a: {}{}\n", "[".repeat(500), "]".repeat(500));

        let error = parse(&text).unwrap_err();

        assert!(error.message.contains("levels deep"), "{}", error.message);
    }

    #[test]
    fn second_document_rejected() {
        let error = parse("a: 1\n---\nb: 2\n").unwrap_err();

        assert!(error.message.contains("more than one YAML document"), "{}", error.message);
    }
}
