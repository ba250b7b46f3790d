//! A JSON tree that borrows its text from the input.
//!
//! An owned `serde_json::Value` would hold every name and string of a line
//! as a heap string, in a map per object, only for them to be copied again
//! into the event's fields. This tree keeps the names and strings that have
//! no escapes as slices of the line, and objects as lists of pairs in the
//! order they came, which is also the order the event's fields keep. A
//! name given twice keeps its first place and its last value, as
//! `serde_json`'s ordered map does.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object: names and values in the order they came, each name once.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

/// Parses one JSON text.
pub(super) fn parse(text: &str) -> serde_json::Result<Json<'_>> {
    serde_json::from_str(text)
}

impl<'a> Json<'a> {
    /// A tree borrowing from an already parsed `serde_json` value.
    pub(super) fn of(v: &'a serde_json::Value) -> Json<'a> {
        use serde_json::Value as J;
        match v {
            J::Null => Json::Null,
            J::Bool(b) => Json::Bool(*b),
            J::Number(n) => Json::Number(n.clone()),
            J::String(s) => Json::Str(Cow::Borrowed(s)),
            J::Array(a) => Json::Array(a.iter().map(Json::of).collect()),
            J::Object(o) => Json::Object(Object::of(o)),
        }
    }
    /// The text, if this is a string.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The object, if this is one.
    pub(super) fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }
}

impl fmt::Display for Json<'_> {
    /// The value as compact JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::Str(s) => write_string(f, s),
            Json::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Json::Object(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_string(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
    f.write_str(&quoted)
}

impl<'a> Object<'a> {
    /// An object borrowing from an already parsed `serde_json` map.
    pub(super) fn of(o: &'a serde_json::Map<String, serde_json::Value>) -> Object<'a> {
        Object(
            o.iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::of(v)))
                .collect(),
        )
    }
    /// The value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&Json<'a>> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    /// Whether `name` is present.
    pub(super) fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// How many names it holds.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
    /// Names and values in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// Adds a pair; a name already present keeps its place and takes the
    /// new value. Small objects are searched in place; a large one (which
    /// only a hostile or odd sender makes) through a map, so that a line
    /// of many names costs linear time.
    fn from_pairs(pairs: Vec<(Cow<'a, str>, Json<'a>)>) -> Object<'a> {
        const SMALL: usize = 64;
        // The usual object names each field once: kept as it came.
        if pairs.len() <= SMALL
            && !pairs
                .iter()
                .enumerate()
                .any(|(i, (k, _))| pairs[..i].iter().any(|(name, _)| name == k))
        {
            return Object(pairs);
        }
        let mut out: Vec<(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(pairs.len());
        if pairs.len() <= SMALL {
            for (k, v) in pairs {
                match out.iter_mut().find(|(name, _)| *name == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
        } else {
            let mut at: std::collections::HashMap<Cow<'a, str>, usize> =
                std::collections::HashMap::with_capacity(pairs.len());
            for (k, v) in pairs {
                match at.get(&k) {
                    Some(&i) => out[i].1 = v,
                    None => {
                        at.insert(k.clone(), out.len());
                        out.push((k, v));
                    }
                }
            }
        }
        Object(out)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// A name or string: borrowed when the input has it without escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(s)))
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // serde_json gives no size hint: room for a usual event's fields.
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(32).min(1024));
        while let Some((Text(k), v)) = map.next_entry::<Text<'de>, Json<'de>>()? {
            pairs.push((k, v));
        }
        Ok(Json::Object(Object::from_pairs(pairs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let j = parse(r#"{"a":"plain","b":"tab\tbed","n":-3,"f":1.5,"u":18446744073709551615}"#)
            .unwrap();
        let o = j.as_object().unwrap();
        assert!(matches!(
            o.get("a"),
            Some(Json::Str(Cow::Borrowed("plain")))
        ));
        assert!(matches!(o.get("b"), Some(Json::Str(Cow::Owned(s))) if s == "tab\tbed"));
        assert_eq!(o.get("n"), Some(&Json::Number((-3).into())));
        assert_eq!(o.get("u"), Some(&Json::Number(u64::MAX.into())));
    }

    #[test]
    fn a_repeated_name_keeps_its_place_and_its_last_value() {
        let many: String = (0..100).map(|i| format!(r#""k{i}":{i},"#)).collect();
        for text in [
            r#"{"a":1,"b":2,"a":3}"#.to_owned(),
            format!(r#"{{"a":1,"b":2,{many}"a":3}}"#),
        ] {
            let mine = parse(&text).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(mine, Json::of(&theirs), "{text}");
            let o = mine.as_object().unwrap();
            assert_eq!(o.iter().next().map(|(k, _)| k), Some("a"));
            assert_eq!(o.get("a"), Some(&Json::Number(3.into())));
        }
    }

    proptest! {
        /// Any JSON text parses to the tree `serde_json`'s own value gives,
        /// and prints back to the same value; anything else is an error,
        /// never a panic.
        #[test]
        fn agrees_with_serde_json(text in r#"[{}\[\]",:0-9a-z\\ .eE+-]{0,40}"#) {
            let theirs = serde_json::from_str::<serde_json::Value>(&text);
            let mine = parse(&text);
            prop_assert_eq!(theirs.is_ok(), mine.is_ok());
            if let (Ok(t), Ok(m)) = (theirs, mine) {
                prop_assert_eq!(&m, &Json::of(&t));
                let back: serde_json::Value = serde_json::from_str(&m.to_string()).unwrap();
                prop_assert_eq!(back, t);
            }
        }
    }
}
