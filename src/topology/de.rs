//! The typed pass: deserializes the checked tree into the raw types.
//!
//! The schema check has already reported every structural problem and repaired the tree:
//! unknown and repeated keys removed, and a placeholder in place of each missing or
//! mistyped required value. A placeholder deserializes into an empty value of whatever
//! type is asked for (`""`, `0`, `false`, an empty list, a struct of placeholders),
//! located at `Location::PLACEHOLDER`, so that the resolver can run its checks on the
//! rest of the file. serde-saphyr's own deserializer cannot do that, so this one walks
//! the tree instead of the text.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::tree::{Key, Location, Node, Scalar, ScalarKind, Spanned, Value};

/// Struct name and fields through which `Spanned<T>` asks this deserializer for a
/// value's location; no raw type uses these names.
const SPANNED: &str = "$vprolab::Spanned";
const SPANNED_FIELDS: &[&str] = &["$line", "$column", "$value"];

/// A mismatch between the checked tree and the raw types: a gap in the schema, never a
/// mistake of the file's author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedError {
    pub message: String,
    pub at: Option<Location>,
}

impl fmt::Display for TypedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TypedError {}

impl de::Error for TypedError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self { message: message.to_string(), at: None }
    }
}

impl TypedError {
    fn located(self, at: Location) -> Self {
        Self { at: self.at.or(Some(at)), ..self }
    }
}

/// Deserializes `T` from a checked tree.
pub fn from_tree<'de, T: Deserialize<'de>>(tree: &Node) -> Result<T, TypedError> {
    T::deserialize(NodeDeserializer(tree))
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(SPANNED, SPANNED_FIELDS, SpannedVisitor(PhantomData))
    }
}

struct SpannedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
    type Value = Spanned<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a value of the topology tree")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
        let (mut line, mut column, mut value) = (None, None, None);
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                "$line" => line = Some(map.next_value::<u32>()?),
                "$column" => column = Some(map.next_value::<u32>()?),
                "$value" => value = Some(map.next_value::<T>()?),
                other => return Err(de::Error::unknown_field(other, SPANNED_FIELDS)),
            }
        }

        let missing = || de::Error::custom("Spanned<T> is only read from the topology tree");
        let referenced = Location::new(line.ok_or_else(missing)?, column.ok_or_else(missing)?);
        Ok(Spanned { value: value.ok_or_else(missing)?, referenced })
    }
}

/// Hands `Spanned<T>` its location, then its value.
struct SpannedAccess<D> {
    at: Location,
    value: Option<D>,
    step: usize,
}

impl<'de, D: Deserializer<'de, Error = TypedError>> MapAccess<'de> for SpannedAccess<D> {
    type Error = TypedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, TypedError> {
        let Some(field) = SPANNED_FIELDS.get(self.step) else { return Ok(None) };
        seed.deserialize((*field).into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TypedError> {
        self.step += 1;
        match self.step {
            1 => seed.deserialize(u32::try_from(self.at.line()).unwrap_or(u32::MAX).into_deserializer()),
            2 => seed.deserialize(u32::try_from(self.at.column()).unwrap_or(u32::MAX).into_deserializer()),
            _ => seed.deserialize(self.value.take().ok_or_else(|| de::Error::custom("Spanned<T> value read twice"))?),
        }
    }
}

#[derive(Clone, Copy)]
struct NodeDeserializer<'a>(&'a Node);

impl<'a> NodeDeserializer<'a> {
    fn scalar(self) -> Option<&'a Scalar> {
        match &self.0.value {
            Value::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    fn is_empty(self) -> bool {
        matches!(self.0.value, Value::Placeholder | Value::Absent | Value::Scalar(Scalar { kind: ScalarKind::Null, .. }))
    }

    fn mismatch(self, expected: &str) -> TypedError {
        TypedError { message: format!("expected {expected}, found {}", self.0.describe()), at: Some(self.0.at) }
    }

    fn integer(self) -> Result<i128, TypedError> {
        match (&self.0.value, self.scalar()) {
            (Value::Placeholder | Value::Absent, _) => Ok(0),
            (_, Some(Scalar { kind: ScalarKind::Integer(value), .. })) => Ok(*value),
            _ => Err(self.mismatch("a whole number")),
        }
    }
}

/// Integers go to the visitor as i64 or u64, the widths every serde visitor takes.
fn visit_integer<'de, V: Visitor<'de>>(value: i128, visitor: V) -> Result<V::Value, TypedError> {
    if let Ok(value) = i64::try_from(value) {
        return visitor.visit_i64(value);
    }
    match u64::try_from(value) {
        Ok(value) => visitor.visit_u64(value),
        Err(_) => Err(de::Error::custom(format!("{value} does not fit 64 bits"))),
    }
}

macro_rules! deserialize_integers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
                let value = self.integer()?;
                visit_integer(value, visitor).map_err(|error| error.located(self.0.at))
            }
        )*
    };
}

impl<'de> Deserializer<'de> for NodeDeserializer<'_> {
    type Error = TypedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match &self.0.value {
            Value::Placeholder | Value::Absent => visitor.visit_unit(),
            Value::Sequence(items) => visitor.visit_seq(Items(items.iter())),
            Value::Mapping(pairs) => visitor.visit_map(Pairs { pairs: pairs.iter(), value: None }),
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => visitor.visit_unit(),
                ScalarKind::Bool(value) => visitor.visit_bool(value),
                ScalarKind::Integer(value) => visit_integer(value, visitor),
                ScalarKind::Float | ScalarKind::String => visitor.visit_str(&scalar.text),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match (&self.0.value, self.scalar()) {
            (Value::Placeholder | Value::Absent, _) => visitor.visit_bool(false),
            (_, Some(Scalar { kind: ScalarKind::Bool(value), .. })) => visitor.visit_bool(*value),
            _ => Err(self.mismatch("true or false")),
        }
    }

    deserialize_integers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        let number = match &self.0.value {
            Value::Placeholder | Value::Absent => Some(0.0),
            _ => self.scalar().and_then(|scalar| scalar.text.parse::<f64>().ok()),
        };
        number.map_or_else(|| Err(self.mismatch("a number")), |number| visitor.visit_f64(number))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match (&self.0.value, self.scalar()) {
            (Value::Placeholder | Value::Absent, _) => visitor.visit_str(""),
            (_, Some(scalar)) => visitor.visit_str(&scalar.text),
            _ => Err(self.mismatch("text")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, TypedError> {
        Err(self.mismatch("bytes, which no topology key takes"))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_bytes(visitor)
    }

    /// A placeholder for an invalid optional value reads as set, so that the resolver
    /// reports nothing that hangs on the value being absent, such as "ready sets 0 of
    /// udp, tcp and after" after an invalid port.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match &self.0.value {
            Value::Scalar(Scalar { kind: ScalarKind::Null, .. }) | Value::Absent => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match &self.0.value {
            Value::Sequence(items) => visitor.visit_seq(Items(items.iter())).map_err(|error| error.located(self.0.at)),
            _ if self.is_empty() => visitor.visit_seq(Items([].iter())),
            _ => Err(self.mismatch("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _name: &'static str, _len: usize, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match &self.0.value {
            Value::Mapping(pairs) => visitor.visit_map(Pairs { pairs: pairs.iter(), value: None }).map_err(|error| error.located(self.0.at)),
            _ if self.is_empty() => visitor.visit_map(Pairs { pairs: [].iter(), value: None }),
            _ => Err(self.mismatch("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(self, name: &'static str, fields: &'static [&'static str], visitor: V) -> Result<V::Value, TypedError> {
        if name == SPANNED {
            return visitor.visit_map(SpannedAccess { at: self.0.at, value: Some(self), step: 0 });
        }
        match &self.0.value {
            Value::Placeholder | Value::Absent => visitor.visit_map(PlaceholderFields(fields.iter())),
            _ => self.deserialize_map(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(self, _name: &'static str, _variants: &'static [&'static str], visitor: V) -> Result<V::Value, TypedError> {
        match self.scalar() {
            Some(scalar) => visitor.visit_enum(scalar.text.as_str().into_deserializer()),
            None => Err(self.mismatch("a name")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_unit()
    }
}

struct Items<'a>(std::slice::Iter<'a, Node>);

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = TypedError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, TypedError> {
        self.0.next().map(|item| seed.deserialize(NodeDeserializer(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Pairs<'a> {
    pairs: std::slice::Iter<'a, (Key, Node)>,
    value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for Pairs<'_> {
    type Error = TypedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, TypedError> {
        let Some((key, value)) = self.pairs.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(KeyDeserializer(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TypedError> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("value asked for before its key"))?;
        seed.deserialize(NodeDeserializer(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

/// The fields of a struct that stands for a placeholder, each a placeholder itself.
struct PlaceholderFields(std::slice::Iter<'static, &'static str>);

static ABSENT: Node = Node { value: Value::Absent, at: Location::PLACEHOLDER };

impl<'de> MapAccess<'de> for PlaceholderFields {
    type Error = TypedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, TypedError> {
        self.0.next().map(|field| seed.deserialize((*field).into_deserializer())).transpose()
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TypedError> {
        seed.deserialize(NodeDeserializer(&ABSENT))
    }
}

/// A mapping key: text, or `Spanned<String>` with the key's location.
#[derive(Clone, Copy)]
struct KeyDeserializer<'a>(&'a Key);

impl<'de> Deserializer<'de> for KeyDeserializer<'_> {
    type Error = TypedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_str(&self.0.text)
    }

    fn deserialize_struct<V: Visitor<'de>>(self, name: &'static str, fields: &'static [&'static str], visitor: V) -> Result<V::Value, TypedError> {
        if name == SPANNED {
            return visitor.visit_map(SpannedAccess { at: self.0.at, value: Some(self), step: 0 });
        }
        Err(de::Error::custom(format!("a mapping key cannot be the struct {name} with fields {fields:?}")))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::topology::tree;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: Spanned<String>,
        port: Option<Spanned<u16>>,
        flag: bool,
        items: Vec<Spanned<String>>,
    }

    #[test]
    fn from_tree_reads_values_and_locations() {
        let tree = tree::parse("name: 4.10\nport: 9971\nflag: true\nitems: [a, 90]\n").unwrap();

        let sample: Sample = from_tree(&tree).unwrap();

        assert_eq!(sample.name.value, "4.10");
        assert_eq!(sample.name.referenced, Location::new(1, 7));
        assert_eq!(sample.port.unwrap().value, 9971);
        assert!(sample.flag);
        assert_eq!(sample.items[1].value, "90");
    }

    #[test]
    fn from_tree_fills_placeholder_struct() {
        let sample: Sample = from_tree(&Node::placeholder()).unwrap();

        assert_eq!(sample.name.value, "");
        assert!(sample.name.referenced.is_placeholder());
        assert!(sample.port.is_none());
        assert!(sample.items.is_empty());
    }

    #[test]
    fn from_tree_locates_mismatch() {
        let tree = tree::parse("name: x\nport: many\nflag: true\nitems: []\n").unwrap();

        let error = from_tree::<Sample>(&tree).unwrap_err();

        assert_eq!(error.at, Some(Location::new(2, 7)));
        assert!(error.message.contains("found \"many\""), "{}", error.message);
    }
}
