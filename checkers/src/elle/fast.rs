//! The fast path of the streaming reader: one JSON Lines event whose value is a plain list
//! of micro-operations is parsed straight into small typed parts, without building a
//! `serde_json::Value` tree (which was most of the time and of the allocations of a check).
//!
//! The path is deliberately narrow: it takes only what it can read exactly as the
//! [`Event`](crate::Event) reader and [`Txns::parse_mops`] would — micro-operations of
//! exactly three elements, `append`, `w` or `r`, keys that are strings or 64-bit integers,
//! values that are `null`, 64-bit integers or lists of them — and gives up on anything else,
//! so that the general path reads that line and words its errors. Either way a line is read
//! once per path at most. Linear in the line.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::txn::{KeyTable, Mop, MopKind, Shape, Source, Txns, NIL, UNKNOWN};
use crate::format::scan::{scan_event, RawValue, Scanner};
use crate::history::{EventType, Outcome, Process};

/// A key as written: a string or an integer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FastKey {
    Str(String),
    Int(i64),
}

/// A micro-operation's value as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FastVal {
    Null,
    Int(i64),
    List(Vec<i64>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FastF {
    Append,
    Write,
    Read,
}

/// A value that is `null` or a list of micro-operations.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FastValue {
    pub null: bool,
    pub mops: Vec<(FastF, FastKey, FastVal)>,
}

/// One event read the fast way: the fields [`Event`](crate::Event) checks, with the same
/// types, and the value as micro-operations.
#[derive(Deserialize)]
pub(crate) struct FastEvent<'a> {
    #[serde(default)]
    #[allow(dead_code)]
    index: u64,
    #[serde(default)]
    pub time: Option<u64>,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(borrow)]
    pub f: Cow<'a, str>,
    #[serde(default, borrow)]
    pub key: Option<Cow<'a, str>>,
    #[serde(default = "null_value")]
    pub value: FastValue,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    error: Option<IgnoredAny>,
}

fn null_value() -> FastValue {
    FastValue {
        null: true,
        mops: Vec::new(),
    }
}

/// The event on `line`, if the fast path can read it exactly; `None` sends the line to the
/// general reader. Lines with integers beyond 64 bits (a run of 19 digits or more) and keys
/// that are numbers are left to it.
pub(crate) fn parse(line: &[u8]) -> Option<FastEvent<'_>> {
    if crate::format::jsonl::has_long_digit_run(line) {
        return None;
    }
    serde_json::from_slice::<FastEvent>(line).ok()
}

/// The event on `line` read by the hand-written scanner ([`scan_event`]) where the line has
/// the usual shape and its value is `null` or a list of micro-operations written without
/// spaces, several times faster than [`parse`]; `None` leaves the line to [`parse`]. What
/// it reads is what [`parse`] would (the tests hold the two to that): it takes a subset of
/// the lines `parse` takes, keys without escapes and integers of at most 18 digits.
pub(crate) fn scan(line: &str) -> Option<FastEvent<'_>> {
    let event = scan_event(line)?;
    let value = match event.value {
        RawValue::Null => null_value(),
        RawValue::Json(text) => scan_mops(text)?,
        RawValue::Int(_) | RawValue::Pair(..) => return None,
    };
    Some(FastEvent {
        index: 0,
        time: event.time,
        process: event.process,
        kind: event.kind,
        f: Cow::Borrowed(event.f),
        key: event.key.map(Cow::Borrowed),
        value,
        node: event.node.map(str::to_string),
        error: None,
    })
}

/// `[["append",1,2],["r",1,[2]],...]`: the whole of `text`.
fn scan_mops(text: &str) -> Option<FastValue> {
    let mut s = Scanner::new(text);
    let mut mops = Vec::new();
    (s.next()? == b'[').then_some(())?;
    if s.peek()? == b']' {
        s.next();
    } else {
        loop {
            mops.push(scan_mop(&mut s)?);
            match s.next()? {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
    }
    s.done().then_some(FastValue { null: false, mops })
}

/// One `[f, key, value]`.
fn scan_mop(s: &mut Scanner<'_>) -> Option<(FastF, FastKey, FastVal)> {
    (s.next()? == b'[').then_some(())?;
    let f = match s.string()? {
        "append" => FastF::Append,
        "w" => FastF::Write,
        "r" => FastF::Read,
        _ => return None,
    };
    (s.next()? == b',').then_some(())?;
    let key = if s.peek()? == b'"' {
        FastKey::Str(s.string()?.to_string())
    } else {
        FastKey::Int(s.integer()?)
    };
    (s.next()? == b',').then_some(())?;
    let value = if s.literal(b"null") {
        FastVal::Null
    } else if s.peek()? == b'[' {
        s.next();
        let mut items = Vec::new();
        if s.peek()? == b']' {
            s.next();
        } else {
            loop {
                items.push(s.integer()?);
                match s.next()? {
                    b',' => {}
                    b']' => break,
                    _ => return None,
                }
            }
        }
        FastVal::List(items)
    } else {
        FastVal::Int(s.integer()?)
    };
    (s.next()? == b']').then_some((f, key, value))
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = FastValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a list of micro-operations")
    }
    fn visit_unit<E: de::Error>(self) -> Result<FastValue, E> {
        Ok(null_value())
    }
    fn visit_none<E: de::Error>(self) -> Result<FastValue, E> {
        Ok(null_value())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FastValue, A::Error> {
        let mut mops = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(m) = seq.next_element::<FastMop>()? {
            mops.push((m.0, m.1, m.2));
        }
        Ok(FastValue { null: false, mops })
    }
}

impl<'de> Deserialize<'de> for FastValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FastValue, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct FastMop(FastF, FastKey, FastVal);

impl<'de> Deserialize<'de> for FastMop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FastMop, D::Error> {
        struct MopVisitor;
        impl<'de> Visitor<'de> for MopVisitor {
            type Value = FastMop;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[f, key, value]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FastMop, A::Error> {
                let missing = || de::Error::custom("short micro-operation");
                let f: Cow<'de, str> = seq.next_element()?.ok_or_else(missing)?;
                let f = match &*f {
                    "append" => FastF::Append,
                    "w" => FastF::Write,
                    "r" => FastF::Read,
                    _ => return Err(de::Error::custom("another f")),
                };
                let key = seq.next_element::<KeyOf>()?.ok_or_else(missing)?.0;
                let value = seq.next_element::<ValOf>()?.ok_or_else(missing)?.0;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("long micro-operation"));
                }
                Ok(FastMop(f, key, value))
            }
        }
        d.deserialize_seq(MopVisitor)
    }
}

struct KeyOf(FastKey);

impl<'de> Deserialize<'de> for KeyOf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyOf, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyOf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyOf, E> {
                Ok(KeyOf(FastKey::Str(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyOf, E> {
                Ok(KeyOf(FastKey::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyOf, E> {
                i64::try_from(v)
                    .map(|i| KeyOf(FastKey::Int(i)))
                    .map_err(|_| E::custom("big key"))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

struct ValOf(FastVal);

impl<'de> Deserialize<'de> for ValOf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ValOf, D::Error> {
        struct ValVisitor;
        impl<'de> Visitor<'de> for ValVisitor {
            type Value = ValOf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, an integer or a list of integers")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ValOf, E> {
                Ok(ValOf(FastVal::Null))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValOf, E> {
                Ok(ValOf(FastVal::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValOf, E> {
                i64::try_from(v)
                    .map(|i| ValOf(FastVal::Int(i)))
                    .map_err(|_| E::custom("big value"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValOf, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(8));
                while let Some(i) = seq.next_element::<i64>()? {
                    items.push(i);
                }
                Ok(ValOf(FastVal::List(items)))
            }
        }
        d.deserialize_any(ValVisitor)
    }
}

impl FastValue {
    /// The same value as JSON, for the general path to parse and word its errors.
    pub fn to_json(&self) -> Value {
        if self.null {
            return Value::Null;
        }
        let mops = self.mops.iter().map(|(f, k, v)| {
            let f = match f {
                FastF::Append => "append",
                FastF::Write => "w",
                FastF::Read => "r",
            };
            let k = match k {
                FastKey::Str(s) => Value::from(s.as_str()),
                FastKey::Int(i) => Value::from(*i),
            };
            let v = match v {
                FastVal::Null => Value::Null,
                FastVal::Int(i) => Value::from(*i),
                FastVal::List(items) => Value::from(items.clone()),
            };
            Value::Array(vec![Value::from(f), k, v])
        });
        Value::Array(mops.collect())
    }
}

impl KeyTable {
    fn intern_fast(&mut self, key: &FastKey) -> u32 {
        match key {
            FastKey::Str(s) => self.intern_str(s),
            FastKey::Int(i) => self.intern_int(*i),
        }
    }
}

impl Txns {
    /// [`Txns::parse_mops`] for a value read the fast way; `false` when the value holds
    /// something only the general path words right (nothing is added then).
    pub(crate) fn parse_fast_mops(
        &mut self,
        op: &Source,
        value: &FastValue,
        t: u32,
        shape: Shape,
        keys: &mut KeyTable,
    ) -> bool {
        let known_read = op.outcome == Outcome::Ok;
        let fits = !value.null
            && value.mops.iter().all(|(f, _, v)| match (f, shape, v) {
                (FastF::Append, Shape::List, FastVal::Int(i))
                | (FastF::Write, Shape::Register, FastVal::Int(i)) => *i != NIL,
                (FastF::Read, _, _) if !known_read => true,
                (FastF::Read, Shape::List, FastVal::Null) => true,
                (FastF::Read, Shape::List, FastVal::List(items)) => !items.contains(&NIL),
                (FastF::Read, Shape::Register, FastVal::Null) => true,
                (FastF::Read, Shape::Register, FastVal::Int(i)) => *i != NIL,
                _ => false,
            });
        if !fits {
            return false;
        }
        for (f, k, v) in &value.mops {
            let key = keys.intern_fast(k);
            let mut mop = Mop {
                txn: t,
                key,
                kind: MopKind::Read,
                value: NIL,
                len: UNKNOWN,
            };
            match (f, v) {
                (FastF::Append, FastVal::Int(i)) => {
                    (mop.kind, mop.value, mop.len) = (MopKind::Append, *i, 0);
                }
                (FastF::Write, FastVal::Int(i)) => {
                    (mop.kind, mop.value, mop.len) = (MopKind::Write, *i, 0);
                }
                (FastF::Read, _) if !known_read => {}
                (FastF::Read, FastVal::Null) if shape == Shape::List => {
                    (mop.value, mop.len) = (self.elems.len() as i64, 0);
                }
                (FastF::Read, FastVal::List(items)) => {
                    (mop.value, mop.len) = (self.elems.len() as i64, items.len() as u32);
                    self.elems.extend_from_slice(items);
                }
                (FastF::Read, FastVal::Null) => mop.len = 1,
                (FastF::Read, FastVal::Int(i)) => (mop.value, mop.len) = (*i, 1),
                _ => unreachable!("checked above"),
            }
            self.mops.push(mop);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type View = (
        Option<u64>,
        Process,
        EventType,
        String,
        Option<String>,
        FastValue,
        Option<String>,
    );

    fn view(e: FastEvent<'_>) -> View {
        let key = e.key.map(Cow::into_owned);
        (
            e.time,
            e.process,
            e.kind,
            e.f.into_owned(),
            key,
            e.value,
            e.node,
        )
    }

    #[test]
    fn the_scanner_reads_the_usual_lines_as_serde_does() {
        let usual = [
            r#"{"index":0,"time":91072,"process":22,"type":"invoke","f":"txn","value":[["append",3,1],["r",4,null]]}"#,
            r#"{"index":1,"time":91080,"process":22,"type":"ok","f":"txn","value":[["append",3,1],["r",4,[1,2,-3]]],"node":"n2"}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["w","x",5],["r","y",7],["r","z",[]]]}"#,
            r#"{"process":2,"type":"fail","f":"txn","value":[],"error":{"why":"x"}}"#,
            r#"{"process":2,"type":"info","f":"txn","value":null,"key":"k"}"#,
            r#"{"process":2,"type":"invoke","f":"txn"}"#,
        ];
        for line in usual {
            let scanned = scan(line).map(view);
            assert!(scanned.is_some(), "the scanner leaves a usual line: {line}");
            assert_eq!(scanned, parse(line.as_bytes()).map(view), "{line}");
        }
    }

    #[test]
    fn the_scanner_leaves_odd_lines_to_serde() {
        let odd = [
            r#"{"process":2,"type":"ok","f":"txn","value":[["append", 3, 1]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["append",3]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["append",3,1,4]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["cas",3,1]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["r","a\"b",null]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["r",3,[1,2.5]]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["r",3,[-0]]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["r",3,[1,]]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["r",3,true]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["w",10000000000000000000,1]]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["w",1,1]],}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[["w",1,1]]x}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":5}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":[1,2]}"#,
            r#"{"process":2,"type":"ok","f":"txn","value":{"a":1}}"#,
        ];
        for line in odd {
            assert!(scan(line).is_none(), "{line}");
        }
    }
}
