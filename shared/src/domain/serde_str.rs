//! Serde for the domain types as their canonical string, re-validated through `parse` on the way in.

use std::fmt;
use std::marker::PhantomData;

use super::Invalid;

/// Deserialises a string by handing it to a `parse` function, so stored values are always valid.
///
/// A visitor rather than `try_from = "String"` so borrowed input is parsed without an allocation.
pub(super) fn deserialize<'de, D, T>(
    deserializer: D,
    parse: fn(&str) -> Result<T, Invalid>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    deserializer.deserialize_str(ParseVisitor {
        parse,
        marker: PhantomData,
    })
}

struct ParseVisitor<T> {
    parse: fn(&str) -> Result<T, Invalid>,
    marker: PhantomData<T>,
}

impl<T> serde::de::Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
        // The error names the rule, never the value: stored values are personal data.
        (self.parse)(value).map_err(E::custom)
    }
}

/// Implements `Serialize` (as `as_str()`) and `Deserialize` (through the given parse function).
macro_rules! string_serde {
    ($ty:ty, $parse:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::domain::serde_str::deserialize(deserializer, $parse)
            }
        }
    };
}

pub(super) use string_serde;
