//! The JSON Schema of the topology format, generated from the raw types, and the
//! structural check of a located tree against it.
//!
//! The schema is the one source of the file's structure: `vprolab schema` writes it for
//! editors, and the check below reads the same document. It is draft-07, the newest
//! draft yaml-language-server reads. Besides standard keywords it carries two that
//! editors ignore: `x-expected`, the phrase a
//! message uses for a value ("expected a number of days, found -5"), and `x-key`, what
//! the keys of a mapping of names stand for (`servers.NAME`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::Value as Json;

use super::error::Problem;
use super::raw::RawLab;
use super::resolve::suggest;
use super::tree::{Key, Location, Node, Scalar, ScalarKind, Spanned, Value};
use crate::amt::verdict::Reason;
use crate::topology::model::Role;

/// Generates the JSON Schema document of the topology format.
pub fn json_schema() -> Json {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft07());
    let mut schema = generator.root_schema_for::<RawLab>();
    schema.insert("title".into(), "vprolab topology".into());
    schema.insert(
        "description".into(),
        "A vPro provisioning network for vprolab: L3 switch and VLANs, servers, DNS zones, DHCP, the setup server and the emulated vPro clients.".into(),
    );
    let mut document = schema.to_value();
    widen_text(&mut document);
    document
}

/// Lets text values be numbers and booleans too, because the loader reads them as written:
/// `firmware: 16.1` is the text "16.1", though YAML makes it a number, and an editor
/// would otherwise mark it. Names from a fixed list stay strings.
fn widen_text(schema: &mut Json) {
    match schema {
        Json::Object(object) => {
            let plain_text = !object.contains_key("enum");
            match object.get_mut("type") {
                Some(kind @ Json::String(_)) if plain_text && kind == "string" => *kind = serde_json::json!(["string", "number", "boolean"]),
                Some(Json::Array(kinds)) if plain_text && kinds.iter().any(|kind| kind == "string") => {
                    kinds.retain(|kind| kind != "string");
                    kinds.splice(0..0, [Json::from("string"), Json::from("number"), Json::from("boolean")]);
                }
                _ => {}
            }
            object.values_mut().for_each(widen_text);
        }
        Json::Array(items) => items.iter_mut().for_each(widen_text),
        _ => {}
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// Builds the schema of a text value from a fixed list of names.
fn names(names: &[&str], expected: &str) -> Schema {
    json_schema!({ "type": "string", "enum": names, "x-expected": expected })
}

pub(super) fn role_list(_: &mut SchemaGenerator) -> Schema {
    let roles: Vec<&str> = Role::NAMES.iter().map(|(name, _)| *name).collect();
    json_schema!({ "type": "array", "items": names(&roles, "a role"), "x-expected": "a list of roles such as [dns, dhcp-server]" })
}

pub(super) fn key_kind_names(_: &mut SchemaGenerator) -> Schema {
    let kinds: Vec<&str> = super::resolve::KEY_NAMES.iter().map(|(name, _)| *name).collect();
    names(&kinds, "a key type")
}

pub(super) fn chain_part_names(_: &mut SchemaGenerator) -> Schema {
    let parts: Vec<&str> = super::resolve::CHAIN_PARTS.iter().map(|(name, _)| *name).collect();
    names(&parts, "a part of the chain")
}

pub(super) fn schedule_names(_: &mut SchemaGenerator) -> Schema {
    names(super::resolve::SCHEDULE_NAMES, "a hello schedule")
}

pub(super) fn outcome_names(_: &mut SchemaGenerator) -> Schema {
    let codes: Vec<&str> = Reason::all_codes().collect();
    names(&codes, "an outcome")
}

/// The check's reading of one schema: the kind of value and the words for it.
#[derive(Debug)]
struct Shape {
    kind: Kind,
    /// The `x-expected` phrase, such as "a VLAN id".
    expected: Option<String>,
    /// The `x-key` of a mapping of names, such as `NAME`.
    key_name: Option<String>,
}

#[derive(Debug)]
enum Kind {
    Text { names: Option<Vec<String>> },
    Integer { min: i128, max: i128 },
    Boolean,
    List(Box<Shape>),
    /// A mapping with fixed keys (`fields`), or of names to entries (`entries`).
    Object { fields: Vec<Field>, entries: Option<Box<Shape>> },
    Nullable(Box<Shape>),
}

#[derive(Debug)]
struct Field {
    name: String,
    shape: Shape,
    required: bool,
}

/// Keywords the schema may use; `shape` reads every one of them, and a schema test
/// checks that the generated document uses no other.
const KNOWN_KEYWORDS: &[&str] = &[
    "$schema", "$ref", "definitions", "title", "description", "type", "format", "enum", "minimum", "maximum", "items",
    "properties", "required", "additionalProperties", "anyOf", "oneOf", "allOf", "default", "x-expected", "x-key",
];

static ROOT: LazyLock<Shape> = LazyLock::new(|| {
    let document = json_schema();
    // The schema comes from the raw types, not from input, and a test reads it whole.
    shape(&document, &document).expect("the topology schema uses only the keywords the check reads")
});

/// Every display path where each key is valid, such as `fqdn` -> `servers.NAME`.
static HOMES: LazyLock<HashMap<String, Vec<String>>> = LazyLock::new(|| {
    let mut homes = HashMap::new();
    collect_homes(&ROOT, "", &mut homes);
    homes
});

fn shape(schema: &Json, document: &Json) -> Result<Shape, String> {
    let Some(object) = schema.as_object() else { return Err(format!("a schema must be an object, found {schema}")) };
    if let Some(unknown) = object.keys().find(|key| !KNOWN_KEYWORDS.contains(&key.as_str())) {
        return Err(format!("keyword {unknown:?} is not read by the structural check"));
    }

    let expected = object.get("x-expected").and_then(Json::as_str).map(str::to_owned);
    let key_name = object.get("x-key").and_then(Json::as_str).map(str::to_owned);
    let mut kind = kind(object, document)?;

    // Metadata of an optional value describes the value inside.
    if let Kind::Nullable(inner) = &mut kind {
        inner.expected = inner.expected.take().or_else(|| expected.clone());
        inner.key_name = inner.key_name.take().or_else(|| key_name.clone());
    }
    Ok(Shape { kind, expected, key_name })
}

fn kind(object: &serde_json::Map<String, Json>, document: &Json) -> Result<Kind, String> {
    if let Some(reference) = object.get("$ref").and_then(Json::as_str) {
        let target = reference.strip_prefix('#').and_then(|pointer| document.pointer(pointer)).ok_or_else(|| format!("unresolved $ref {reference}"))?;
        return Ok(shape(target, document)?.kind);
    }
    if let Some(Json::Array(choices)) = object.get("anyOf").or_else(|| object.get("oneOf")).or_else(|| object.get("allOf")) {
        return choice_kind(choices, document);
    }

    match object.get("type") {
        Some(Json::String(name)) => type_kind(name, object, document),
        Some(Json::Array(names)) => {
            let names: Vec<&str> = names.iter().filter_map(Json::as_str).collect();
            let kind = match names.iter().filter(|name| **name != "null").copied().collect::<Vec<_>>()[..] {
                [name] => type_kind(name, object, document)?,
                ["string", "number", "boolean"] => type_kind("string", object, document)?,
                ref other => return Err(format!("type list {other:?} is neither one type nor widened text")),
            };
            if !names.contains(&"null") {
                return Ok(kind);
            }
            Ok(Kind::Nullable(Box::new(Shape { kind, expected: None, key_name: None })))
        }
        _ => Err(format!("schema without a type: {object:?}")),
    }
}

/// `anyOf: [T, {type: null}]` is an optional value; `allOf: [T]` is T with metadata.
fn choice_kind(choices: &[Json], document: &Json) -> Result<Kind, String> {
    let is_null = |choice: &Json| choice.get("type").and_then(Json::as_str) == Some("null");
    let others: Vec<&Json> = choices.iter().filter(|choice| !is_null(choice)).collect();
    let [only] = others[..] else { return Err(format!("{} alternatives; the check reads one and null", others.len())) };

    let inner = shape(only, document)?;
    if others.len() < choices.len() { Ok(Kind::Nullable(Box::new(inner))) } else { Ok(inner.kind) }
}

fn type_kind(name: &str, object: &serde_json::Map<String, Json>, document: &Json) -> Result<Kind, String> {
    let bound = |key: &str, default: i128| object.get(key).and_then(Json::as_i64).map_or(default, i128::from);
    match name {
        "string" => Ok(Kind::Text { names: object.get("enum").and_then(Json::as_array).map(|names| names.iter().filter_map(Json::as_str).map(str::to_owned).collect()) }),
        "integer" => Ok(Kind::Integer { min: bound("minimum", i128::from(i64::MIN)), max: bound("maximum", i128::from(i64::MAX)) }),
        "boolean" => Ok(Kind::Boolean),
        "array" => Ok(Kind::List(Box::new(shape(object.get("items").ok_or("array without items")?, document)?))),
        "object" => object_kind(object, document),
        other => Err(format!("type {other:?} is not read by the structural check")),
    }
}

fn object_kind(object: &serde_json::Map<String, Json>, document: &Json) -> Result<Kind, String> {
    let required: HashSet<&str> = object.get("required").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
    let mut fields = Vec::new();
    for (name, schema) in object.get("properties").and_then(Json::as_object).into_iter().flatten() {
        fields.push(Field { name: name.clone(), shape: shape(schema, document)?, required: required.contains(name.as_str()) });
    }

    // Required keys first, in the order the raw type declares them, so that messages
    // list them as the documentation does.
    let order: Vec<&str> = object.get("required").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
    fields.sort_by_key(|field| order.iter().position(|name| *name == field.name).unwrap_or(usize::MAX));

    let entries = match object.get("additionalProperties") {
        Some(schema @ Json::Object(_)) => Some(Box::new(shape(schema, document)?)),
        _ => None,
    };
    Ok(Kind::Object { fields, entries })
}

fn collect_homes(shape: &Shape, path: &str, homes: &mut HashMap<String, Vec<String>>) {
    match &shape.kind {
        Kind::Nullable(inner) => collect_homes(inner, path, homes),
        Kind::List(item) => collect_homes(item, &format!("{path}[N]"), homes),
        Kind::Object { fields, entries } => {
            for field in fields {
                homes.entry(field.name.clone()).or_default().push(if path.is_empty() { "the top level".to_owned() } else { path.to_owned() });
                collect_homes(&field.shape, &join(path, &field.name), homes);
            }
            if let Some(entry) = entries {
                collect_homes(entry, &join(path, shape.key_name.as_deref().unwrap_or("NAME")), homes);
            }
        }
        Kind::Text { .. } | Kind::Integer { .. } | Kind::Boolean => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Checks a tree against the topology schema. Returns the repaired tree, which the raw
/// types always accept, and every structural problem.
pub fn check(tree: Node) -> (Node, Vec<Problem>) {
    let mut checker = Checker { problems: Vec::new() };
    let owner = tree.at;
    let checked = checker.check(tree, &ROOT, "", owner).unwrap_or_else(Node::placeholder);
    (checked, checker.problems)
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    /// Checks one value. `owner` locates "missing key" problems of a mapping: its key's
    /// place. Returns `None` for a value that is invalid as a whole, which the caller
    /// replaces by a placeholder.
    fn check(&mut self, node: Node, shape: &Shape, path: &str, owner: Location) -> Option<Node> {
        if matches!(node.value, Value::Placeholder | Value::Absent) {
            return Some(node);
        }

        match &shape.kind {
            Kind::Nullable(inner) => match node.value {
                Value::Scalar(Scalar { kind: ScalarKind::Null, .. }) => Some(node),
                _ => self.check(node, inner, path, owner),
            },
            Kind::Text { names } => self.check_text(node, shape, names.as_deref(), path),
            Kind::Integer { min, max } => self.check_integer(node, shape, (*min, *max), path),
            Kind::Boolean => self.check_boolean(node, shape, path),
            Kind::List(item) => self.check_list(node, shape, item, path),
            Kind::Object { fields, entries } => self.check_object(node, shape, (fields, entries.as_deref()), path, owner),
        }
    }

    fn wrong_type(&mut self, node: &Node, shape: &Shape, path: &str) {
        let problem = Problem::at(&node.at, path, format!("expected {}, found {}", expected(shape), node.describe()));
        let problem = match (&shape.kind, &node.value) {
            (Kind::List(_), Value::Scalar(scalar)) if scalar.kind != ScalarKind::Null => problem.help(format!("write a list, such as [{}]", scalar.text)),
            _ => problem,
        };
        self.problems.push(problem);
    }

    fn check_text(&mut self, node: Node, shape: &Shape, names: Option<&[String]>, path: &str) -> Option<Node> {
        let Value::Scalar(scalar) = &node.value else {
            self.wrong_type(&node, shape, path);
            return None;
        };
        if scalar.kind == ScalarKind::Null {
            self.wrong_type(&node, shape, path);
            return None;
        }

        match names {
            Some(names) if !names.contains(&scalar.text) => {
                let choices: Vec<&str> = names.iter().map(String::as_str).collect();
                let problem = Problem::at(&node.at, path, format!("{:?} is not {}", scalar.text, expected(shape)));
                self.problems.push(problem.help(suggest(&scalar.text, &choices)));
                None
            }
            _ => Some(node),
        }
    }

    fn check_integer(&mut self, node: Node, shape: &Shape, (min, max): (i128, i128), path: &str) -> Option<Node> {
        match &node.value {
            Value::Scalar(Scalar { kind: ScalarKind::Integer(value), .. }) if (min..=max).contains(value) => Some(node),
            _ => {
                self.wrong_type(&node, shape, path);
                None
            }
        }
    }

    fn check_boolean(&mut self, node: Node, shape: &Shape, path: &str) -> Option<Node> {
        match &node.value {
            Value::Scalar(Scalar { kind: ScalarKind::Bool(_), .. }) => Some(node),
            _ => {
                self.wrong_type(&node, shape, path);
                None
            }
        }
    }

    /// Checks every item; an invalid item becomes a placeholder, so that the paths of the
    /// items after it keep their index.
    fn check_list(&mut self, node: Node, shape: &Shape, item: &Shape, path: &str) -> Option<Node> {
        let items = match node.value {
            Value::Sequence(items) => items,
            Value::Scalar(Scalar { kind: ScalarKind::Null, .. }) => Vec::new(),
            _ => {
                self.wrong_type(&node, shape, path);
                return None;
            }
        };

        let checked = items
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                let at = entry.at;
                self.check(entry, item, &format!("{path}[{index}]"), at).unwrap_or_else(Node::placeholder)
            })
            .collect();
        Some(Node { value: Value::Sequence(checked), at: node.at })
    }

    fn check_object(&mut self, node: Node, shape: &Shape, (fields, entries): (&[Field], Option<&Shape>), path: &str, owner: Location) -> Option<Node> {
        let pairs = match node.value {
            Value::Mapping(pairs) => pairs,
            // An empty `dhcp:` is a mapping without keys, whose missing keys get reported.
            Value::Scalar(Scalar { kind: ScalarKind::Null, .. }) => Vec::new(),
            _ => {
                self.wrong_type(&node, shape, path);
                return None;
            }
        };

        // Keys written, and the keys that typos stand for: a typo of one stands for it.
        let mut present: HashSet<String> = pairs.iter().map(|(key, _)| key.text.clone()).collect();
        let mut first_seen: BTreeMap<String, Location> = BTreeMap::new();
        let mut kept = Vec::new();
        for (key, value) in pairs {
            if let Some(first) = first_seen.get(&key.text) {
                self.duplicate_key(&key, *first, path);
                continue;
            }
            first_seen.insert(key.text.clone(), key.at);

            let Some((key, shape)) = self.key_shape(key, fields, entries, &mut present, path) else { continue };
            let value_path = join(path, &key.text);
            // An invalid value, optional or not, stays set as a placeholder, so that the
            // resolver reports nothing that follows from its absence.
            let value = self.check(value, shape, &value_path, key.at).unwrap_or_else(Node::placeholder);
            kept.push((key, value));
        }

        self.add_missing(fields, &mut kept, path, owner);
        Some(Node { value: Value::Mapping(kept), at: node.at })
    }

    /// Finds what a key's value must be: its field, the entries' shape, or, for an
    /// unknown key that is a typo of a missing field, that field. Reports other unknown
    /// keys and returns `None` for them.
    fn key_shape<'s>(&mut self, key: Key, fields: &'s [Field], entries: Option<&'s Shape>, present: &mut HashSet<String>, path: &str) -> Option<(Key, &'s Shape)> {
        if let Some(field) = fields.iter().find(|field| field.name == key.text) {
            return Some((key, &field.shape));
        }
        if let Some(entry) = entries {
            return Some((key, entry));
        }

        let names: Vec<&str> = fields.iter().map(|field| field.name.as_str()).collect();
        let closest = closest_name(&key.text, &names);
        let problem = Problem::at(&key.at, join(path, &key.text), format!("unknown key {:?}", key.text));
        let help = match (closest, HOMES.get(&key.text)) {
            (Some(name), _) => format!("did you mean {name:?}?"),
            (None, Some(homes)) => format!("{:?} belongs under {}", key.text, or_list(homes)),
            (None, None) => format!("valid keys here are {}", names.join(", ")),
        };
        self.problems.push(problem.help(help));

        // A typo of a missing key stands for it, so that its value is still checked and
        // the key is not reported missing too. Only the first typo does: two typos of
        // `zones` must not make it a key set twice.
        let field = closest.filter(|name| !present.contains(*name)).and_then(|name| fields.iter().find(|field| field.name == name))?;
        present.insert(field.name.clone());
        Some((Key { text: field.name.clone(), at: key.at }, &field.shape))
    }

    fn duplicate_key(&mut self, key: &Key, first: Location, path: &str) {
        let message = format!("key {:?} is set twice, at lines {} and {}", key.text, first.line(), key.at.line());
        self.problems.push(Problem::at(&key.at, join(path, &key.text), message).help("keep one of them"));
    }

    fn add_missing(&mut self, fields: &[Field], kept: &mut Vec<(Key, Node)>, path: &str, owner: Location) {
        for field in fields.iter().filter(|field| field.required) {
            if kept.iter().any(|(key, _)| key.text == field.name) {
                continue;
            }

            let problem = Problem::at(&owner, join(path, &field.name), format!("missing key {:?}", field.name));
            self.problems.push(problem.help(format!("add `{}:` with {}", field.name, expected(&field.shape))));
            kept.push((Key { text: field.name.clone(), at: Location::PLACEHOLDER }, Node::placeholder()));
        }
    }
}

/// The phrase for what a value must be, such as "a VLAN id from 1 to 4094".
fn expected(shape: &Shape) -> String {
    let phrase = match (&shape.expected, &shape.kind) {
        (Some(phrase), _) => phrase.clone(),
        (None, Kind::Nullable(inner)) => return expected(inner),
        (None, Kind::Text { names: Some(names) }) => format!("one of {}", names.join(", ")),
        (None, Kind::Text { names: None }) => "text".to_owned(),
        (None, Kind::Integer { .. }) => "a whole number".to_owned(),
        (None, Kind::Boolean) => "true or false".to_owned(),
        (None, Kind::List(_)) => "a list".to_owned(),
        (None, Kind::Object { fields, .. }) if !fields.is_empty() => {
            let names: Vec<&str> = fields.iter().map(|field| field.name.as_str()).collect();
            format!("a mapping with keys such as {}", names.join(", "))
        }
        (None, Kind::Object { .. }) => "a mapping of names to entries".to_owned(),
    };

    match shape.kind {
        Kind::Integer { min, max } if min > i128::from(i64::MIN) || max < i128::from(i64::MAX) => format!("{phrase} from {min} to {max}"),
        _ => phrase,
    }
}

/// Finds the valid name a mistyped key most likely means: at most two edits away, and fewer
/// than half its length, so that `a` does not suggest `ou`.
fn closest_name<'n>(key: &str, names: &[&'n str]) -> Option<&'n str> {
    let (distance, name) = names.iter().map(|name| (strsim::damerau_levenshtein(key, name), *name)).min()?;
    (distance <= 2 && distance * 2 < key.len().max(name.len())).then_some(name)
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tree;

    fn problems(text: &str) -> Vec<Problem> {
        check(tree::parse(text).unwrap()).1
    }

    const MINIMAL: &str = include_str!("../../topologies/single.yaml");

    fn keywords(schema: &Json, found: &mut HashSet<String>) {
        let Json::Object(object) = schema else { return };
        for (key, value) in object {
            found.insert(key.clone());
            let children: Vec<&Json> = match key.as_str() {
                "properties" | "definitions" => value.as_object().into_iter().flat_map(|map| map.values()).collect(),
                "items" | "additionalProperties" => vec![value],
                "anyOf" | "oneOf" | "allOf" => value.as_array().into_iter().flatten().collect(),
                _ => Vec::new(),
            };
            children.into_iter().for_each(|child| keywords(child, found));
        }
    }

    #[test]
    fn schema_uses_only_keywords_the_check_reads() {
        let mut found = HashSet::new();
        keywords(&json_schema(), &mut found);

        let unknown: Vec<&String> = found.iter().filter(|keyword| !KNOWN_KEYWORDS.contains(&keyword.as_str())).collect();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(matches!(ROOT.kind, Kind::Object { .. }));
    }

    #[test]
    fn schema_check_accepts_reference_lab() {
        assert_eq!(problems(MINIMAL), []);
    }

    #[test]
    fn schema_check_suggests_typo_and_checks_its_value() {
        let text = MINIMAL.replace("    fqdn: dc1.jcert.info", "    fqdm: [dc1.jcert.info]");

        let found = problems(&text);

        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].path, "servers.dc1.fqdm");
        assert_eq!(found[0].help.as_deref(), Some("did you mean \"fqdn\"?"));
        assert_eq!(found[1].path, "servers.dc1.fqdn");
        assert!(found[1].message.contains("expected a domain name"), "{}", found[1].message);
    }

    #[test]
    fn schema_check_two_typos_of_one_key() {
        let text = MINIMAL.replace("zones:\n", "zone:\n").replace("dhcp:\n", "zonse: {}\ndhcp:\n");

        let (tree, found) = check(tree::parse(&text).unwrap());

        let paths: Vec<&str> = found.iter().map(|problem| problem.path.as_str()).collect();
        assert_eq!(paths, ["zone", "zonse"]);
        let raw = super::super::de::from_tree::<RawLab>(&tree);
        assert!(raw.is_ok(), "{raw:?}");
    }

    #[test]
    fn schema_check_names_home_of_misplaced_key() {
        let text = MINIMAL.replace("    firmware: 4.1.1\n", "    firmware: 4.1.1\n    fqdn: pc90.jcert.info\n");

        let found = problems(&text);

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].help.as_deref(), Some("\"fqdn\" belongs under servers.NAME"));
    }

    #[test]
    fn schema_check_reports_missing_key_at_owner() {
        let text = MINIMAL.replace("    fqdn: scs.jcert.info\n", "");

        let found = problems(&text);

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "servers.scs.fqdn");
        assert_eq!(found[0].line, 22, "the line of `scs:`");
    }

    #[test]
    fn schema_check_reports_both_duplicate_lines() {
        let text = MINIMAL.replace("    vlan: 90\n    address: 192.168.90.20\n", "    vlan: 90\n    address: 192.168.90.20\n    vlan: 91\n");

        let found = problems(&text);

        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("at lines 23 and 25"), "{}", found[0].message);
    }

    #[test]
    fn schema_check_words_wrong_types() {
        let text = MINIMAL.replace("valid_days: 365", "valid_days: -5").replace("port: 9971", "port: nine");

        let found = problems(&text);
        let messages: Vec<&str> = found.iter().map(|problem| problem.message.as_str()).collect();

        assert_eq!(messages, ["expected a TCP port number from 1 to 65535, found \"nine\"", "expected a number of days from 1 to 36500, found -5"]);
    }

    #[test]
    fn schema_check_treats_empty_mapping_as_missing_keys() {
        let text = MINIMAL.replace("dhcp:\n  scopes:", "dhcp:\nunused:\n  scopes:");

        let found = problems(&text);

        assert!(found.iter().any(|problem| problem.path == "dhcp.scopes" && problem.message == "missing key \"scopes\""), "{found:?}");
        assert!(found.iter().any(|problem| problem.path == "unused"), "{found:?}");
    }

    #[test]
    fn schema_check_keeps_list_indexes() {
        let text = MINIMAL.replace("roles: [setup-server]", "roles: [setup-srever, [x], dns]");

        let (tree, found) = check(tree::parse(&text).unwrap());

        let paths: Vec<&str> = found.iter().map(|problem| problem.path.as_str()).collect();
        assert_eq!(paths, ["servers.scs.roles[0]", "servers.scs.roles[1]"]);
        assert_eq!(found[0].help.as_deref(), Some("did you mean \"setup-server\"?"));
        let raw: RawLab = super::super::de::from_tree(&tree).unwrap();
        assert_eq!(raw.servers.0[1].1.value.roles.value.len(), 3);
    }
}
