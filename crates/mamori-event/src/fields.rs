//! Field values and the ordered field list of an event.

use std::fmt;

/// Text of a field name or value: up to 24 bytes are kept inline, without
/// an allocation. Most names and values of device logs are that short, and
/// every stage (decode, store, index, detect) makes and drops them.
pub type Text = compact_str::CompactString;

/// A decoded field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Present but empty (JSON `null`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number (ports, event ids, byte counts).
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text (always valid UTF-8; transcoded at the edge when needed).
    Str(Text),
    /// Several values under one name.
    List(Vec<Value>),
}

impl Value {
    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The number, if this is a whole number (or a string holding one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) => J::String(s.to_string()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::List(l) => {
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                Ok(())
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Text::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Text::from(s))
    }
}
impl From<Text> for Value {
    fn from(s: Text) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<u16> for Value {
    fn from(i: u16) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// The decoded fields of an event, in the order the decoder produced them.
///
/// Events carry tens of fields, so a vector with a linear scan is faster than
/// a map and keeps the device's order for display.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(Text, Value)>);

impl Fields {
    /// An empty field list.
    pub fn new() -> Self {
        Fields(Vec::new())
    }
    /// An empty field list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Fields(Vec::with_capacity(n))
    }
    /// Makes room for at least `n` more fields.
    pub fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }
    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    /// The text of `name`, if present and a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }
    /// Sets `name` to `value`, replacing an earlier value of the same name.
    pub fn insert(&mut self, name: impl Into<Text>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.0.push((name, value));
        }
    }
    /// Appends without looking for an earlier value of the same name
    /// (for decoders that know names are unique).
    pub fn push(&mut self, name: impl Into<Text>, value: impl Into<Value>) {
        self.0.push((name.into(), value.into()));
    }
    /// Removes `name` and returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// The fields as a JSON object (a later duplicate name wins).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::with_capacity(self.0.len());
        for (k, v) in &self.0 {
            m.insert(k.to_string(), v.to_json());
        }
        serde_json::Value::Object(m)
    }
}

impl<K: Into<Text>, V: Into<Value>> FromIterator<(K, V)> for Fields {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Fields(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}
