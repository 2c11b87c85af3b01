//! A hand-written reader for the usual shape of a `history.jsonl` line, several times faster
//! than serde's: one object, the known fields once each, names and strings without escapes
//! or bytes outside ASCII, integers of at most 18 digits. Anything else — or anything it is
//! not sure of — is `None`, and the caller reads the line with serde as before, so the
//! result of a line never depends on which reader took it (the tests hold the two to that).

use crate::history::{EventType, Process};

/// The fields of one event line, borrowed from it.
#[derive(Debug, PartialEq)]
pub(crate) struct Scanned<'a> {
    pub time: Option<u64>,
    pub process: Process,
    pub kind: EventType,
    pub f: &'a str,
    pub key: Option<&'a str>,
    pub node: Option<&'a str>,
    pub value: RawValue<'a>,
}

/// The `value` field: `null` and small integers as they are, anything else as its JSON text
/// (for the caller to parse; it is not checked here).
#[derive(Debug, PartialEq)]
pub(crate) enum RawValue<'a> {
    Null,
    Int(i64),
    /// An array of two integers.
    Pair(i64, i64),
    Json(&'a str),
}

/// Nesting deeper than this is left to serde, whose own limit (128, counted from the line's
/// outer object) then decides.
const MAX_DEPTH: usize = 64;

/// The fields of an event, each a bit of the set of those seen on a line.
const INDEX: u16 = 1;
const TIME: u16 = 1 << 1;
const PROCESS: u16 = 1 << 2;
const TYPE: u16 = 1 << 3;
const F: u16 = 1 << 4;
const KEY: u16 = 1 << 5;
const NODE: u16 = 1 << 6;
const VALUE: u16 = 1 << 7;
const ERROR: u16 = 1 << 8;
const RESPONSE: u16 = 1 << 9;

/// The event on `line` (without its newline), or `None` to leave the line to serde.
pub(crate) fn scan_event(line: &str) -> Option<Scanned<'_>> {
    let mut s = Scanner::new(line);
    s.expect(b'{')?;
    s.skip_space();
    let (mut time, mut process, mut kind, mut f) = (None, None, None, None);
    let (mut key, mut node, mut value) = (None, None, RawValue::Null);
    let mut seen = 0u16;
    loop {
        let field = s.field()?;
        s.expect(b':')?;
        s.skip_space();
        match field {
            INDEX => {
                s.unsigned()?;
            }
            TIME => {
                time = if s.literal(b"null") {
                    None
                } else {
                    Some(s.unsigned()?)
                };
            }
            PROCESS => {
                process = Some(if s.peek()? == b'"' {
                    (s.string()? == "nemesis").then_some(Process::Nemesis)?
                } else {
                    Process::Client(s.unsigned()?)
                });
            }
            TYPE => {
                kind = Some(match s.string()? {
                    "invoke" => EventType::Invoke,
                    "ok" => EventType::Ok,
                    "fail" => EventType::Fail,
                    "info" => EventType::Info,
                    _ => return None,
                });
            }
            F => f = Some(s.string()?),
            KEY => key = s.optional_string()?,
            NODE => node = s.optional_string()?,
            VALUE => value = s.value()?,
            // Their contents are never read, but serde refuses a line whose JSON is broken
            // there, so it must be whole.
            _ => {
                let raw = s.skip_value()?;
                serde_json::from_str::<serde::de::IgnoredAny>(raw).ok()?;
            }
        }
        if seen & field != 0 {
            return None;
        }
        seen |= field;
        s.skip_space();
        match s.next()? {
            b',' => s.skip_space(),
            b'}' => break,
            _ => return None,
        }
    }
    s.skip_space();
    if !s.done() {
        return None;
    }
    Some(Scanned {
        time,
        process: process?,
        kind: kind?,
        f: f?,
        key,
        node,
        value,
    })
}

/// A reader of JSON text for the usual shapes, each step `None` where the text is not what
/// it reads.
pub(crate) struct Scanner<'a> {
    source: &'a str,
    /// `source`'s bytes.
    text: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(source: &'a str) -> Scanner<'a> {
        Scanner {
            source,
            text: source.as_bytes(),
            at: 0,
        }
    }

    /// Whether the whole text has been read.
    pub(crate) fn done(&self) -> bool {
        self.at == self.text.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.skip_space();
        (self.next()? == b).then_some(())
    }

    /// Whether `word` comes next, and if so steps over it. The word is an array, so the
    /// comparison is a few loads rather than a call.
    pub(crate) fn literal<const N: usize>(&mut self, word: &[u8; N]) -> bool {
        let found = self.text[self.at..].first_chunk::<N>() == Some(word);
        if found {
            self.at += N;
        }
        found
    }

    /// A string of printable ASCII without escapes.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        if self.next()? != b'"' {
            return None;
        }
        let start = self.at;
        let rest = &self.text[start..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))?;
        if rest[len] != b'"' {
            return None;
        }
        self.at += len + 1;
        self.source.get(start..start + len)
    }

    /// A field's name, with its quotes, as its bit: one of those of an event, told by its
    /// first letter and then compared whole, which is quicker than reading it as any string.
    fn field(&mut self) -> Option<u16> {
        if self.next()? != b'"' {
            return None;
        }
        let field = match self.peek()? {
            b'i' if self.literal(b"index\"") => INDEX,
            b't' if self.literal(b"time\"") => TIME,
            b't' if self.literal(b"type\"") => TYPE,
            b'p' if self.literal(b"process\"") => PROCESS,
            b'f' if self.literal(b"f\"") => F,
            b'k' if self.literal(b"key\"") => KEY,
            b'n' if self.literal(b"node\"") => NODE,
            b'v' if self.literal(b"value\"") => VALUE,
            b'e' if self.literal(b"error\"") => ERROR,
            b'r' if self.literal(b"response\"") => RESPONSE,
            _ => return None,
        };
        Some(field)
    }

    fn optional_string(&mut self) -> Option<Option<&'a str>> {
        if self.literal(b"null") {
            return Some(None);
        }
        self.string().map(Some)
    }

    /// The digits of a non-negative integer: `0`, or 1 to 18 digits without a leading zero.
    fn digits(&mut self) -> Option<&'a [u8]> {
        let rest = &self.text[self.at..];
        let len = leading_digits(rest);
        let digits = &rest[..len];
        self.at += len;
        let fine = match digits {
            [b'0'] => true,
            [b'1'..=b'9', ..] => digits.len() <= 18,
            _ => false,
        };
        // A fraction or an exponent makes it a float, which serde reads otherwise.
        let float = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        (fine && !float).then_some(digits)
    }

    fn unsigned(&mut self) -> Option<u64> {
        self.digits().map(value_of_digits)
    }

    fn value(&mut self) -> Option<RawValue<'a>> {
        let start = self.at;
        if self.literal(b"null") {
            return Some(RawValue::Null);
        }
        if let Some(n) = self.integer() {
            return Some(RawValue::Int(n));
        }
        if let Some(pair) = self.pair() {
            return Some(RawValue::Pair(pair.0, pair.1));
        }
        self.at = start;
        self.skip_value().map(RawValue::Json)
    }

    /// An integer as serde reads one into an `i64`; `None` leaves `at` where it was.
    pub(crate) fn integer(&mut self) -> Option<i64> {
        let start = self.at;
        let negative = self.peek()? == b'-';
        let first = self.text.get(start + usize::from(negative)).copied()?;
        // `-0` is a float to serde; other integers are read here.
        if !first.is_ascii_digit() || (negative && first == b'0') {
            return None;
        }
        self.at += usize::from(negative);
        let Some(n) = self.digits() else {
            self.at = start;
            return None;
        };
        // At most 18 digits: the value fits an `i64`.
        let n = value_of_digits(n) as i64;
        Some(if negative { -n } else { n })
    }

    /// `[a,b]` with two integers and no spaces, as a compare-and-set writes its values.
    fn pair(&mut self) -> Option<(i64, i64)> {
        (self.next()? == b'[').then_some(())?;
        let a = self.integer()?;
        (self.next()? == b',').then_some(())?;
        let b = self.integer()?;
        (self.next()? == b']').then_some((a, b))
    }

    /// The text of one JSON value, found by its quotes and brackets alone: whether it is
    /// valid JSON is for serde to say.
    fn skip_value(&mut self) -> Option<&'a str> {
        let start = self.at;
        match self.peek()? {
            b'"' => self.skip_string()?,
            b'[' | b'{' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'[' | b'{' if depth == MAX_DEPTH => return None,
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' if depth == 1 => {
                            self.at += 1;
                            break;
                        }
                        b']' | b'}' => depth -= 1,
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            // A number, `true` or `false`: up to what follows it.
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
            }
        }
        self.source
            .get(start..self.at)
            .filter(|text| !text.is_empty())
    }

    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => {
                    self.next()?;
                }
                _ => {}
            }
        }
    }
}

/// How many of the first bytes of `text` are ASCII digits, eight bytes at a time.
fn leading_digits(text: &[u8]) -> usize {
    let mut len = 0;
    while let Some(eight) = text[len..].first_chunk::<8>() {
        let others = not_digits(u64::from_le_bytes(*eight));
        if others != 0 {
            return len + others.trailing_zeros() as usize / 8;
        }
        len += 8;
    }
    let tail = &text[len..];
    len + tail
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(tail.len())
}

/// `word`'s bytes that are not ASCII digits, marked in their high half: exactly up to the
/// first of them (the lowest), whose mark is all that is read; after it a carry may mark
/// others wrongly.
fn not_digits(word: u64) -> u64 {
    // Digits become 0 to 9: the bytes below 10, that is below 16 even with 6 added.
    let x = word ^ 0x3030_3030_3030_3030;
    (x | x.wrapping_add(0x0606_0606_0606_0606)) & 0xf0f0_f0f0_f0f0_f0f0
}

/// The value of at most 19 ASCII digits, eight at a time where there are eight.
fn value_of_digits(digits: &[u8]) -> u64 {
    let mut n = 0u64;
    let mut rest = digits;
    while let Some((eight, tail)) = rest.split_first_chunk::<8>() {
        n = n * 100_000_000 + eight_digits(u64::from_le_bytes(*eight));
        rest = tail;
    }
    rest.iter().fold(n, |n, d| n * 10 + u64::from(d - b'0'))
}

/// Eight ASCII digits read as one little-endian word (the first digit in the lowest byte),
/// as a number: pairs of digits are combined, then pairs of pairs, then the two halves,
/// each step one multiplication for all lanes at once.
fn eight_digits(word: u64) -> u64 {
    let word = word & 0x0f0f_0f0f_0f0f_0f0f;
    let word = (word.wrapping_mul(10 << 8 | 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let word = (word.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_ffff_0000_ffff;
    word.wrapping_mul(10_000 << 32 | 1) >> 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn digits_are_read_as_their_number(n in 0u64..1_000_000_000_000_000_000) {
            let text = n.to_string();
            prop_assert_eq!(value_of_digits(text.as_bytes()), n);
        }

        #[test]
        fn leading_zeros_change_nothing(n in 0u64..1_000_000_000, zeros in 0usize..10) {
            let text = format!("{}{n}", "0".repeat(zeros));
            prop_assert_eq!(value_of_digits(text.as_bytes()), n);
        }
    }

    proptest! {
        #[test]
        fn leading_digits_are_counted_as_one_by_one(text in proptest::collection::vec(any::<u8>(), 0..40)) {
            let one_by_one = text.iter().take_while(|b| b.is_ascii_digit()).count();
            prop_assert_eq!(leading_digits(&text), one_by_one);
        }

        #[test]
        fn digits_then_anything(digits in "[0-9]{0,30}", next in any::<u8>(), rest in "[0-9a-z]{0,9}") {
            let mut text = digits.clone().into_bytes();
            text.push(next);
            text.extend_from_slice(rest.as_bytes());
            let expected = digits.len() + usize::from(next.is_ascii_digit()) * (1 + rest.bytes().take_while(u8::is_ascii_digit).count());
            prop_assert_eq!(leading_digits(&text), expected);
        }
    }

    #[test]
    fn eight_digits_at_once() {
        assert_eq!(eight_digits(u64::from_le_bytes(*b"12345678")), 12_345_678);
        assert_eq!(eight_digits(u64::from_le_bytes(*b"00000000")), 0);
        assert_eq!(eight_digits(u64::from_le_bytes(*b"99999999")), 99_999_999);
        assert_eq!(eight_digits(u64::from_le_bytes(*b"90000001")), 90_000_001);
    }
}
