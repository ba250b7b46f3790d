//! The binary form of an event in the store.
//!
//! Layout (version 1): a version byte, then zig-zag varints for the two
//! times, length-prefixed strings for source, host, the log source parts
//! (after a presence byte) and decoder, a flag byte, the raw bytes, and the
//! fields as `count, (name, value)*`. Values are a tag byte and a payload.
//! Decoding checks every length against the bytes left, so hostile input can
//! only produce a [`DecodeError`], never a panic or a huge allocation.

use crate::{Event, Fields, Flags, LogSource, Text, Value};

const VERSION: u8 = 1;
const MAX_DEPTH: u32 = 32;

/// Why bytes could not be read back as an event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end before the event does.
    #[error("event record is truncated")]
    Truncated,
    /// The record was written by a newer mamori, or is not an event record.
    #[error("unknown event record version {0}")]
    Version(u8),
    /// A value tag that this version does not know.
    #[error("unknown value tag {0}")]
    Tag(u8),
    /// A string that is not UTF-8.
    #[error("text in event record is not UTF-8")]
    Utf8,
    /// Lists nested deeper than mamori ever writes.
    #[error("values nested too deeply")]
    TooDeep,
    /// A varint longer than 64 bits.
    #[error("malformed number in event record")]
    Varint,
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::Bool(false) => out.push(1),
        Value::Bool(true) => out.push(2),
        Value::Int(i) => {
            out.push(3);
            put_ivarint(out, *i);
        }
        Value::Float(x) => {
            out.push(4);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(5);
            put_bytes(out, s.as_bytes());
        }
        Value::List(l) => {
            out.push(6);
            put_uvarint(out, l.len() as u64);
            for v in l {
                put_value(out, v);
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::Varint);
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Varint)
    }
    fn ivarint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.uvarint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(DecodeError::Truncated);
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let b = self.bytes()?;
        if b.is_ascii() {
            // SAFETY: ASCII is valid UTF-8. Names and values are nearly
            // always ASCII, and this check costs less than the full
            // validation below on short strings.
            return Ok(unsafe { std::str::from_utf8_unchecked(b) });
        }
        std::str::from_utf8(b).map_err(|_| DecodeError::Utf8)
    }
    fn text(&mut self) -> Result<Text, DecodeError> {
        self.str().map(Text::from)
    }
    /// A count of items each taking at least one byte, checked against what is left.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.uvarint()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(n as usize)
    }
    fn value(&mut self, depth: u32) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        Ok(match self.byte()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Int(self.ivarint()?),
            4 => {
                let end = self.pos + 8;
                let b = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
                self.pos = end;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Float(f64::from_le_bytes(a))
            }
            5 => Value::Str(self.text()?),
            6 => {
                let n = self.count()?;
                let mut l = Vec::with_capacity(n);
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                Value::List(l)
            }
            t => return Err(DecodeError::Tag(t)),
        })
    }
}

impl Event {
    /// Appends the binary form of this event to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        put_ivarint(out, self.received_ns);
        put_ivarint(out, self.time_ns);
        put_bytes(out, self.source.as_bytes());
        put_bytes(out, self.host.as_bytes());
        let ls = [
            &self.logsource.product,
            &self.logsource.service,
            &self.logsource.category,
        ];
        let mut present = 0u8;
        for (i, p) in ls.iter().enumerate() {
            if p.is_some() {
                present |= 1 << i;
            }
        }
        out.push(present);
        for s in ls.into_iter().flatten() {
            put_bytes(out, s.as_bytes());
        }
        put_bytes(out, self.decoder.as_bytes());
        out.push(self.flags.bits());
        put_bytes(out, &self.raw);
        put_uvarint(out, self.fields.len() as u64);
        for (k, v) in self.fields.iter() {
            put_bytes(out, k.as_bytes());
            put_value(out, v);
        }
    }

    /// Reads one event from the start of `buf`; returns it and the bytes used.
    pub fn decode(buf: &[u8]) -> Result<(Event, usize), DecodeError> {
        let mut r = Reader { buf, pos: 0 };
        let v = r.byte()?;
        if v != VERSION {
            return Err(DecodeError::Version(v));
        }
        let received_ns = r.ivarint()?;
        let time_ns = r.ivarint()?;
        let source = r.text()?;
        let host = r.text()?;
        let present = r.byte()?;
        let mut parts: [Option<Text>; 3] = [None, None, None];
        for (i, p) in parts.iter_mut().enumerate() {
            if present & (1 << i) != 0 {
                *p = Some(r.text()?);
            }
        }
        let [product, service, category] = parts;
        let decoder = r.text()?;
        let flags = Flags::from_bits(r.byte()?);
        let raw = r.bytes()?.to_vec();
        let n = r.count()?;
        let mut fields = Fields::with_capacity(n);
        for _ in 0..n {
            let k = r.text()?;
            let v = r.value(0)?;
            fields.push(k, v);
        }
        Ok((
            Event {
                received_ns,
                time_ns,
                source,
                host,
                logsource: LogSource {
                    product,
                    service,
                    category,
                },
                decoder,
                flags,
                raw,
                fields,
            },
            r.pos,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("NaN never equals itself", |x| !x.is_nan())
                .prop_map(Value::Float),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop::collection::vec(inner, 0..4).prop_map(Value::List)
        })
    }

    proptest! {
        #[test]
        fn round_trips(received in any::<i64>(), time in any::<i64>(), source in ".*",
                       raw in prop::collection::vec(any::<u8>(), 0..200),
                       product in proptest::option::of("[a-z]{1,8}"),
                       fields in prop::collection::vec(("[a-zA-Z.]{1,12}", value_strategy()), 0..8),
                       flags in any::<u8>()) {
            let ev = Event {
                received_ns: received, time_ns: time, source: source.into(), host: "h".into(),
                logsource: LogSource { product: product.map(Into::into), service: None, category: Some("c".into()) },
                decoder: "d".into(), flags: Flags::from_bits(flags), raw,
                fields: fields.into_iter().collect(),
            };
            let mut buf = Vec::new();
            ev.encode(&mut buf);
            let (back, used) = Event::decode(&buf).unwrap();
            prop_assert_eq!(used, buf.len());
            prop_assert_eq!(back, ev);
        }

        #[test]
        fn never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Event::decode(&bytes);
        }

        #[test]
        fn every_prefix_is_an_error(cut in 0usize..60) {
            let mut ev = Event::new(b"abc".to_vec());
            ev.fields.insert("a", "xyz");
            ev.fields.insert("n", Value::List(vec![Value::Int(1), Value::Float(2.5)]));
            let mut buf = Vec::new();
            ev.encode(&mut buf);
            if cut < buf.len() {
                prop_assert!(Event::decode(&buf[..cut]).is_err());
            }
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_and_other_text_kept() {
        let mut ev = Event::new(b"raw".to_vec());
        ev.fields.push("User", "yamada");
        ev.fields.push("Message", "認証に失敗しました");
        let mut buf = Vec::new();
        ev.encode(&mut buf);
        let (back, _) = Event::decode(&buf).unwrap();
        assert_eq!(
            back.fields.get("Message").unwrap().to_string(),
            "認証に失敗しました"
        );
        // An invalid byte in place of an ASCII one, and in place of the
        // lead byte of a Japanese character.
        for (from, to) in [(b"yamada".as_slice(), 0xffu8), ("認".as_bytes(), 0x80)] {
            let at = buf.windows(from.len()).position(|w| w == from).unwrap();
            let mut bad = buf.clone();
            bad[at] = to;
            assert!(matches!(Event::decode(&bad), Err(DecodeError::Utf8)));
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut buf = vec![VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, b'k'];
        buf.extend(std::iter::repeat_n([6u8, 1], 100).flatten());
        buf.push(0);
        assert_eq!(Event::decode(&buf).unwrap_err(), DecodeError::TooDeep);
    }
}
