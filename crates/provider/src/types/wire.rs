//! `wire_struct!`: the wire types' serde implementations, written once from their field lists.
//!
//! The wire types keep the fields they do not model in an `extra` map. serde's derive does that
//! with `#[serde(flatten)]`: it reads each unknown key and value into serde's private `Content`
//! buffer, converts the buffered entries into the map at the end, and writes the map back through
//! `FlatMapSerializer`. The macro below reads every value straight into its field or, for an
//! unknown key, straight into a `Value`, and never copies a known key.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// Writes a wire struct and its `Serialize` and `Deserialize` from one definition.
///
/// The input is the struct as it would be written with serde's derive, in this shape: doc
/// comments, one `#[derive(...)]` (without `Serialize`/`Deserialize`), optionally
/// `#[wire(default)]`, then `#[non_exhaustive]`; every field public, with doc comments and
/// optionally one `#[wire(...)]`; the last field `pub extra: Extra`.
///
/// Field options, each the serde attribute it replaces:
///
/// - `skip_none`: not written when `None` (`skip_serializing_if = "Option::is_none"`). An `Option`
///   field without it is written as `null`;
/// - `default`: a missing field is `Default::default()` (`default`);
/// - `default = path`: a missing field is `path()` (`default = "path"`);
/// - `rename = "name"`: the field's name on the wire (`rename = "name"`).
///
/// `#[wire(default)]` on the struct (serde's container `default`): a missing field takes its
/// value from the struct's `Default` impl, unless the field has a `default` of its own.
///
/// What the generated code does is what serde's derive did for these structs:
///
/// - a missing field without a default is `None` for an `Option` and otherwise the error
///   ``missing field `name` ``; `null` is `None` for an `Option`;
/// - a known key seen twice is the error ``duplicate field `name` ``, and never lands in `extra`;
/// - any other key goes into `extra` with its value as received (`null` included; the last of
///   duplicate unknown keys wins);
/// - it reads from a map (`deserialize_map`), so any serde_json input works, a `Value` included,
///   and `serde_path_to_error` still names the field of an error;
/// - it writes a map: the fields in declaration order, then `extra`'s entries.
macro_rules! wire_struct {
    // The struct: split off the header, then take the fields one at a time.
    (
        $(#[doc = $doc:expr])*
        #[derive($($derive:path),* $(,)?)]
        $(#[wire($container:ident)])?
        #[non_exhaustive]
        pub struct $name:ident { $($body:tt)* }
    ) => {
        $crate::types::wire::wire_struct!(@field
            [$(#[doc = $doc])* #[derive($($derive),*)] #[non_exhaustive] pub struct $name]
            $name [$($container)?] []
            $($body)*
        );
    };

    // The last field: the map of everything else.
    (@field $header:tt $name:ident $container:tt $fields:tt
        $(#[doc = $doc:expr])*
        pub extra: $extra:ty $(,)?
    ) => {
        $crate::types::wire::wire_struct!(@emit $header $name $container $fields
            [$(#[doc = $doc])*] $extra
        );
    };

    // A modelled field, with its options.
    (@field $header:tt $name:ident $container:tt [$($fields:tt)*]
        $(#[doc = $doc:expr])*
        $(#[wire($($opt:tt)*)])?
        pub $field:ident: $ty:ty,
        $($rest:tt)*
    ) => {
        $crate::types::wire::wire_struct!(@field $header $name $container
            [$($fields)* { [$(#[doc = $doc])*] $field [$ty] [$($($opt)*)?] }]
            $($rest)*
        );
    };

    (@emit [$($header:tt)*] $name:ident [$($container:ident)?]
        [$({ [$($field_doc:tt)*] $field:ident [$ty:ty] [$($opt:tt)*] })*]
        [$($extra_doc:tt)*] $extra:ty
    ) => {
        $($header)* {
            $(
                $($field_doc)*
                pub $field: $ty,
            )*
            $($extra_doc)*
            pub extra: $extra,
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeMap as _;

                let mut map = serializer.serialize_map(None)?;
                $(
                    $crate::types::wire::wire_struct!(@serialize map, self.$field,
                        $crate::types::wire::wire_struct!(@name $field [$($opt)*]), [$($opt)*]);
                )*
                for (key, value) in &self.extra {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct WireVisitor;

                impl<'de> ::serde::de::Visitor<'de> for WireVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($name)))
                    }

                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        const FIELDS: &[&str] = &[
                            $($crate::types::wire::wire_struct!(@name $field [$($opt)*]),)*
                        ];

                        $(let mut $field: Option<$ty> = None;)*
                        let mut extra = <$extra>::new();
                        while let Some(key) = map.next_key_seed($crate::types::wire::KeySeed(FIELDS))? {
                            match key.as_str() {
                                $(
                                    $crate::types::wire::wire_struct!(@name $field [$($opt)*]) => {
                                        if $field.is_some() {
                                            return Err(<A::Error as ::serde::de::Error>::duplicate_field(
                                                $crate::types::wire::wire_struct!(@name $field [$($opt)*]),
                                            ));
                                        }
                                        $field = Some(map.next_value()?);
                                    }
                                )*
                                _ => {
                                    extra.insert(key.into_string(), map.next_value()?);
                                }
                            }
                        }

                        $crate::types::wire::wire_struct!(@container_default [$($container)?] $name default
                            [$({ $field [$($opt)*] })*]);
                        Ok($name {
                            $(
                                $field: match $field {
                                    Some(value) => value,
                                    None => {
                                        let missing: Result<$ty, A::Error> =
                                            $crate::types::wire::wire_struct!(@missing
                                                $crate::types::wire::wire_struct!(@name $field [$($opt)*]),
                                                [$($opt)*]);
                                        missing?
                                    }
                                },
                            )*
                            extra,
                        })
                    }
                }

                deserializer.deserialize_map(WireVisitor)
            }
        }
    };

    // The field's name on the wire.
    (@name $field:ident []) => { stringify!($field) };
    (@name $field:ident [rename = $wire:literal $(, $($rest:tt)*)?]) => { $wire };
    (@name $field:ident [default = $default:path $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@name $field [$($($rest)*)?])
    };
    (@name $field:ident [default $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@name $field [$($($rest)*)?])
    };
    (@name $field:ident [skip_none $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@name $field [$($($rest)*)?])
    };

    // Writes one field.
    (@serialize $map:ident, $value:expr, $key:expr, []) => {
        $map.serialize_entry($key, &$value)?;
    };
    (@serialize $map:ident, $value:expr, $key:expr, [skip_none $(, $($rest:tt)*)?]) => {
        if Option::is_some(&$value) {
            $map.serialize_entry($key, &$value)?;
        }
    };
    (@serialize $map:ident, $value:expr, $key:expr, [rename = $wire:literal $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@serialize $map, $value, $key, [$($($rest)*)?]);
    };
    (@serialize $map:ident, $value:expr, $key:expr, [default = $default:path $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@serialize $map, $value, $key, [$($($rest)*)?]);
    };
    (@serialize $map:ident, $value:expr, $key:expr, [default $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@serialize $map, $value, $key, [$($($rest)*)?]);
    };

    // The value of a missing field, as a `Result`.
    (@missing $key:expr, []) => { $crate::types::wire::missing_field($key) };
    (@missing $key:expr, [default = $default:path $(, $($rest:tt)*)?]) => { Ok($default()) };
    (@missing $key:expr, [default $(, $($rest:tt)*)?]) => { Ok(Default::default()) };
    (@missing $key:expr, [rename = $wire:literal $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@missing $key, [$($($rest)*)?])
    };
    (@missing $key:expr, [skip_none $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@missing $key, [$($($rest)*)?])
    };

    // With `#[wire(default)]` on the struct, fills the missing fields from its `Default` impl,
    // built only when a field is missing (the derive built it for every value).
    (@container_default [] $name:ident $default:ident [$($fields:tt)*]) => {};
    (@container_default [default] $name:ident $default:ident [$({ $field:ident $opts:tt })*]) => {
        if false $(|| $field.is_none())* {
            let $default = <$name as Default>::default();
            $($crate::types::wire::wire_struct!(@fill $default $field $opts);)*
        }
    };

    // Fills one missing field from the struct's default, unless it has a default of its own.
    (@fill $default:ident $field:ident []) => {
        if $field.is_none() {
            $field = Some($default.$field);
        }
    };
    (@fill $default:ident $field:ident [default $($rest:tt)*]) => {};
    (@fill $default:ident $field:ident [rename = $wire:literal $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@fill $default $field [$($($rest)*)?])
    };
    (@fill $default:ident $field:ident [skip_none $(, $($rest:tt)*)?]) => {
        $crate::types::wire::wire_struct!(@fill $default $field [$($($rest)*)?])
    };
}

pub(super) use wire_struct;

/// A map key as read: borrowed from the input when the input lends it, one of the struct's own
/// field names when it only lends it for the call, owned otherwise (an owned `Value` hands out
/// its `String`s). A known key is never copied.
pub(super) enum Key<'de> {
    /// A field name of the struct being read.
    Field(&'static str),
    /// Borrowed from the input.
    Borrowed(&'de str),
    /// Owned: the deserializer gave a `String`, or an unknown key was copied.
    Owned(String),
}

impl Key<'_> {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Key::Field(key) => key,
            Key::Borrowed(key) => key,
            Key::Owned(key) => key,
        }
    }

    /// The key for the `extra` map.
    pub(super) fn into_string(self) -> String {
        match self {
            Key::Field(key) => key.to_owned(),
            Key::Borrowed(key) => key.to_owned(),
            Key::Owned(key) => key,
        }
    }
}

/// Reads a [`Key`]; holds the struct's field names.
pub(super) struct KeySeed(pub(super) &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    // What serde says of a key that is not a string when it reads a `String`.
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(match self.0.iter().find(|field| **field == key) {
            Some(field) => Key::Field(field),
            None => Key::Owned(key.to_owned()),
        })
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(key))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Key<'de>, E> {
        Ok(Key::Owned(key))
    }

    // Keys as bytes, accepted when they are UTF-8 as the derive accepted them (serde_json never
    // gives bytes; other deserializers may).
    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Key<'de>, E> {
        match std::str::from_utf8(key) {
            Ok(key) => self.visit_str(key),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(key), &self)),
        }
    }

    fn visit_borrowed_bytes<E: de::Error>(self, key: &'de [u8]) -> Result<Key<'de>, E> {
        match std::str::from_utf8(key) {
            Ok(key) => self.visit_borrowed_str(key),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(key), &self)),
        }
    }

    fn visit_byte_buf<E: de::Error>(self, key: Vec<u8>) -> Result<Key<'de>, E> {
        match String::from_utf8(key) {
            Ok(key) => self.visit_string(key),
            Err(e) => Err(E::invalid_value(de::Unexpected::Bytes(e.as_bytes()), &self)),
        }
    }
}

/// The value of a missing field that has no default, as serde's derive computes it: `None` for
/// an `Option` (which asks for `deserialize_option`), the error ``missing field `key` `` for
/// anything else.
pub(super) fn missing_field<'de, T: de::Deserialize<'de>, E: de::Error>(
    key: &'static str,
) -> Result<T, E> {
    struct Missing<E>(&'static str, PhantomData<E>);

    impl<'de, E: de::Error> Deserializer<'de> for Missing<E> {
        type Error = E;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, E> {
            Err(E::missing_field(self.0))
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
            visitor.visit_none()
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }

    T::deserialize(Missing(key, PhantomData))
}

#[cfg(test)]
#[expect(
    unreachable_pub,
    reason = "`wire_struct!` writes public structs; the test's is private to the test"
)]
mod tests {
    use serde::de::IntoDeserializer;
    use serde::de::value::{BorrowedBytesDeserializer, BytesDeserializer, Error, StrDeserializer};
    use serde_json::{Map, Value, json};

    use super::{Key, KeySeed};

    type Extra = Map<String, Value>;

    fn seven() -> u32 {
        7
    }

    wire_struct! {
        /// Every option the real types do not combine.
        #[derive(Debug, PartialEq)]
        #[wire(default)]
        #[non_exhaustive]
        pub struct Sample {
            /// Missing: the struct's default.
            pub a: u32,
            /// Missing: its own default, not the struct's.
            #[wire(default)]
            pub b: u32,
            /// Missing: its own function, not the struct's.
            #[wire(rename = "C", default = seven)]
            pub c: u32,
            /// Missing: the struct's default, an `Option` too; `None` is not written.
            #[wire(skip_none, rename = "D")]
            pub d: Option<String>,
            /// The rest.
            pub extra: Extra,
        }
    }

    impl Default for Sample {
        fn default() -> Self {
            Sample {
                a: 1,
                b: 2,
                c: 3,
                d: Some("d".to_owned()),
                extra: Extra::new(),
            }
        }
    }

    #[test]
    fn a_field_default_wins_over_the_struct_default() {
        let sample: Sample = serde_json::from_str("{}").expect("parses");
        assert_eq!(
            sample,
            Sample {
                a: 1,
                b: 0,
                c: 7,
                d: Some("d".to_owned()),
                extra: Extra::new()
            }
        );
        let sample: Sample =
            serde_json::from_str(r#"{"a":5,"C":6,"D":null,"c":8}"#).expect("parses");
        assert_eq!((sample.a, sample.b, sample.c, &sample.d), (5, 0, 6, &None));
        assert_eq!(
            serde_json::to_value(&sample).expect("serializes"),
            json!({"a": 5, "b": 0, "C": 6, "c": 8})
        );
    }

    #[test]
    fn keys_may_come_as_bytes_but_not_as_numbers() {
        fn key<'de, D: serde::Deserializer<'de, Error = Error>>(de: D) -> Result<String, Error> {
            serde::de::DeserializeSeed::deserialize(KeySeed(&["a"]), de).map(Key::into_string)
        }
        assert_eq!(key(BytesDeserializer::new(b"a")), Ok("a".to_owned()));
        assert_eq!(
            key(BorrowedBytesDeserializer::new(b"x")),
            Ok("x".to_owned())
        );
        assert_eq!(
            key(BytesDeserializer::new(b"\xff"))
                .expect_err("not UTF-8")
                .to_string(),
            "invalid value: byte array, expected a string"
        );
        assert_eq!(
            key(1u32.into_deserializer())
                .expect_err("a number")
                .to_string(),
            "invalid type: integer `1`, expected a string"
        );
        // A known key read from a transient buffer is not copied: it is the struct's own name.
        let transient = |text| {
            serde::de::DeserializeSeed::deserialize(
                KeySeed(&["a"]),
                StrDeserializer::<Error>::new(text),
            )
        };
        assert!(matches!(transient("a"), Ok(Key::Field("a"))));
        assert!(matches!(transient("b"), Ok(Key::Owned(b)) if b == "b"));
    }
}
