//! The YAML document as a tree of nodes that remember their line and column.
//!
//! serde-saphyr parses the text; its `Spanned` wrapper gives every key and value its
//! place in the file. We read the whole document into this small tree first and decode
//! the tree by hand (`resolve.rs`) instead of deriving `Deserialize` for the config:
//! that is what lets every error name the full key path (`model_list[2].litellm_params.modle`),
//! its line, the closest known key, and collect every problem in one pass.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A place in the config file: 1-based line and column (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub(crate) line: u64,
    pub(crate) column: u64,
}

impl From<Location> for Pos {
    fn from(loc: Location) -> Self {
        Pos {
            line: loc.line(),
            column: loc.column(),
        }
    }
}

/// One value of the document and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) pos: Pos,
}

/// A mapping entry: the key, where the key is written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_pos: Pos,
    pub(crate) value: Node,
}

/// The shapes YAML values take after the core schema has typed the scalars.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

impl Value {
    /// What a user would call this kind of value, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The entries of a mapping, or `None` for any other value.
    pub(crate) fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The text of a string scalar.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` if this node is a mapping that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| &entry.value)
    }

    /// The node as JSON, for metadata passed through untouched (`model_info`).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => i64::try_from(*i)
                .map(serde_json::Value::from)
                .or_else(|_| u64::try_from(*i).map(serde_json::Value::from))
                .unwrap_or_else(|_| serde_json::Value::String(i.to_string())),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|entry| (entry.key.clone(), entry.value.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// Why the text is not a YAML document we can read.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) pos: Option<Pos>,
}

/// Parses `text` into a tree. An empty document is an empty mapping.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Map(Vec::new()),
            pos: Pos { line: 1, column: 1 },
        });
    }
    let mut options = serde_saphyr::Options::default();
    // We report NaN and infinities ourselves, with the key they belong to.
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    options.with_snippet = false;
    // YAML 1.2 booleans only: with YAML 1.1's, a key `y:` or a value `no` turns into a bool.
    // Boolean settings still accept yes/no/on/off as strings (`resolve.rs`).
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|err| SyntaxError {
        pos: err.location().map(Pos::from),
        message: err.without_snippet().to_string(),
    })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            pos: spanned.referenced.into(),
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value = map.next_value::<Node>()?;
            entries.push(Entry {
                key: key.value.0,
                key_pos: key.referenced.into(),
                value,
            });
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key as text: YAML allows numbers and booleans as keys, our config
/// compares them as the text the user wrote.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match Value::deserialize(deserializer)? {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s,
            Value::Seq(_) | Value::Map(_) => {
                return Err(de::Error::custom(
                    "a mapping key is a list or a mapping; config keys are plain words",
                ));
            }
        };
        Ok(Key(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64, column: u64) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn keys_and_values_know_their_place() {
        let text = "a:\n  b: 1\nlist:\n  - x: 1\n    y: \"two\"\n  - x: 3\n";
        let root = parse(text).expect("valid yaml");
        let entries = root.as_map().expect("a mapping");
        assert_eq!(entries[0].key_pos, at(1, 1));
        let b = &entries[0].value.as_map().expect("a mapping")[0];
        assert_eq!(
            (b.key.as_str(), b.key_pos, b.value.pos),
            ("b", at(2, 3), at(2, 6))
        );
        let Value::Seq(items) = &entries[1].value.value else {
            panic!("list expected: {:?}", entries[1].value);
        };
        // `y` stays a key: YAML 1.1 would read it as the boolean true.
        let second_key = &items[0].as_map().expect("a mapping")[1];
        assert_eq!(
            (second_key.key.as_str(), second_key.key_pos),
            ("y", at(5, 5))
        );
        assert_eq!(second_key.value.value, Value::Str("two".into()));
        assert_eq!(items[1].as_map().expect("a mapping")[0].key_pos, at(6, 5));
    }

    #[test]
    fn scalars_are_typed_by_the_core_schema() {
        let root = parse("a: \"12\"\nb: .nan\nc: yes\nd: -1\ne: 1.5\nf: ~\ng: true\n")
            .expect("valid yaml");
        let values: Vec<&Value> = root
            .as_map()
            .expect("a mapping")
            .iter()
            .map(|e| &e.value.value)
            .collect();
        assert_eq!(values[0], &Value::Str("12".into()));
        assert!(matches!(values[1], Value::Float(x) if x.is_nan()));
        assert_eq!(values[2], &Value::Str("yes".into()));
        assert_eq!(values[3], &Value::Int(-1));
        assert_eq!(values[4], &Value::Float(1.5));
        assert_eq!(values[5], &Value::Null);
        assert_eq!(values[6], &Value::Bool(true));
    }

    #[test]
    fn anchors_and_merge_keys_expand() {
        let root = parse("base: &b\n  x: 1\nother:\n  <<: *b\n  y: 2\n").expect("valid yaml");
        let other = root.get("other").expect("other");
        assert_eq!(other.get("x").map(|n| &n.value), Some(&Value::Int(1)));
        assert_eq!(other.get("y").map(|n| &n.value), Some(&Value::Int(2)));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: 1\na: 2\n").expect_err("duplicate key");
        assert_eq!(err.pos, Some(at(2, 1)));
        let err = parse("a:\n  - b\n c: 1\n").expect_err("bad indentation");
        assert_eq!(err.pos.map(|p| p.line), Some(3));
    }

    #[test]
    fn empty_text_is_an_empty_mapping() {
        assert_eq!(
            parse("  \n")
                .expect("empty is fine")
                .as_map()
                .map(<[Entry]>::len),
            Some(0)
        );
    }
}
