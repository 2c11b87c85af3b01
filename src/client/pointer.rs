//! JSON pointers (RFC 6901), split into their tokens when the spec is compiled, and the one
//! pass over an answer that finds what all of an op's pointers point at.
//!
//! An op's rules look at a few places in an answer (`/value`, `/kvs/0/value`, `/succeeded`).
//! Parsing the whole answer into a `serde_json::Value` tree to follow them builds, and then
//! frees, a map and a key for every object on the way, most of which no rule ever reads. The
//! pass here reads the answer with `serde_json`'s own parser and keeps only the values the
//! pointers end at: the rest is checked and skipped. It accepts and rejects exactly the texts
//! that `serde_json::from_str::<Value>` does (so garbage still matches no rule that looks
//! inside the body), and finds what [`Pointer::find`] would find in that tree, down to a key
//! given twice, where the tree keeps the last one.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use smallvec::SmallVec;

/// A JSON pointer, split into its unescaped tokens, so that following it into an answer
/// allocates nothing.
#[derive(Debug)]
pub(super) struct Pointer {
    /// `None`: not a pointer (it neither is empty nor starts with `/`); it finds nothing.
    tokens: Option<Vec<String>>,
}

impl Pointer {
    pub(super) fn new(text: &str) -> Pointer {
        let tokens = match text {
            "" => Some(Vec::new()),
            t if t.starts_with('/') => Some(
                t[1..]
                    .split('/')
                    .map(|token| token.replace("~1", "/").replace("~0", "~"))
                    .collect(),
            ),
            _ => None,
        };
        Pointer { tokens }
    }

    /// The tokens; none for what is not a pointer (the pass never follows one).
    fn path(&self) -> &[String] {
        self.tokens.as_deref().unwrap_or_default()
    }

    /// What the pointer points at in `root`, as `serde_json::Value::pointer` finds it.
    pub(super) fn find<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        find_tokens(root, self.tokens.as_deref()?)
    }
}

fn find_tokens<'v>(root: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    let mut at = root;
    for token in tokens {
        at = match at {
            Value::Object(map) => map.get(token.as_str())?,
            Value::Array(items) => items.get(array_index(token)?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// An array index token: decimal digits without a leading zero (but `0` itself).
fn array_index(token: &str) -> Option<usize> {
    let digits = token.bytes().all(|b| b.is_ascii_digit());
    if !digits || token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// The pointers of one op's rules, each once; a rule refers to one by its number.
#[derive(Debug, Default)]
pub(super) struct Pointers {
    texts: Vec<String>,
    pointers: Vec<Pointer>,
    /// The numbers of those that are pointers at all, where every pass starts.
    valid: Vec<usize>,
}

/// What each of an op's pointers found in one answer, by number.
pub(super) struct Found(SmallVec<[Option<Value>; 4]>);

impl Found {
    pub(super) fn get(&self, pointer: usize) -> Option<&Value> {
        self.0.get(pointer)?.as_ref()
    }
}

impl Pointers {
    /// The number of the pointer `text`, added if it is new.
    pub(super) fn add(&mut self, text: &str) -> usize {
        if let Some(i) = self.texts.iter().position(|t| t == text) {
            return i;
        }
        let pointer = Pointer::new(text);
        if pointer.tokens.is_some() {
            self.valid.push(self.pointers.len());
        }
        self.texts.push(text.to_string());
        self.pointers.push(pointer);
        self.pointers.len() - 1
    }

    /// Follows every pointer into `body` in one pass; `None` if the body is not JSON.
    pub(super) fn resolve(&self, body: &str) -> Option<Found> {
        let mut found: SmallVec<[Option<Value>; 4]> =
            smallvec::smallvec![None; self.pointers.len()];
        let mut de = serde_json::Deserializer::from_str(body);
        let walk = Walk {
            pointers: &self.pointers,
            live: &self.valid,
            depth: 0,
            found: &mut found,
        };
        walk.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(Found(found))
    }
}

/// A visitor's methods for every scalar JSON has, each taking the value as read (checked by
/// the parser as `Value` would be) and keeping nothing.
macro_rules! scalars_pass {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

/// A value in the answer that the pointers `live` lead to, `depth` tokens in.
struct Walk<'p, 'f> {
    pointers: &'p [Pointer],
    live: &'p [usize],
    depth: usize,
    found: &'f mut [Option<Value>],
}

impl Walk<'_, '_> {
    fn tokens(&self, pointer: usize) -> &[String] {
        self.pointers[pointer].path()
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let ending = self
            .live
            .iter()
            .filter(|&&i| self.tokens(i).len() == self.depth)
            .count();
        if ending == 0 {
            return d.deserialize_any(self);
        }
        // A pointer ends here: this value is kept whole, and a pointer that goes on into it
        // is followed in the kept tree.
        let value = Value::deserialize(d)?;
        if let [only] = self.live {
            self.found[*only] = Some(value);
            return Ok(());
        }
        for &i in self.live {
            self.found[i] = find_tokens(&value, &self.tokens(i)[self.depth..]).cloned();
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walk {
            pointers,
            live,
            depth,
            found,
        } = self;
        let mut first = true;
        while let Some(key) = map.next_key_seed(KeyMatch {
            pointers,
            live,
            depth,
        })? {
            if std::mem::take(&mut first) && key.raw && *RAW_VALUE {
                let value = raw_value(&mut map)?;
                for &i in live {
                    found[i] = find_tokens(&value, &pointers[i].path()[depth..]).cloned();
                }
                return Ok(());
            }
            let next = key.next;
            if next.is_empty() {
                map.next_value_seed(Skip)?;
                continue;
            }
            // A key given twice: the tree keeps the last value, so what an earlier one held
            // is forgotten.
            for &i in &next {
                found[i] = None;
            }
            map.next_value_seed(Walk {
                pointers,
                live: &next,
                depth: depth + 1,
                found: &mut *found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let wanted: SmallVec<[(usize, Option<usize>); 4]> = self
            .live
            .iter()
            .map(|&i| (i, array_index(&self.tokens(i)[self.depth])))
            .collect();
        let Walk {
            pointers,
            depth,
            found,
            ..
        } = self;
        let mut index = 0;
        loop {
            let next: SmallVec<[usize; 4]> = wanted
                .iter()
                .filter(|(_, at)| *at == Some(index))
                .map(|&(i, _)| i)
                .collect();
            let more = if next.is_empty() {
                seq.next_element_seed(Skip)?.is_some()
            } else {
                let walk = Walk {
                    pointers,
                    live: &next,
                    depth: depth + 1,
                    found: &mut *found,
                };
                seq.next_element_seed(walk)?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    // A scalar on the way: the pointers that go on find nothing.
    scalars_pass!();
}

/// An object's key, read as the pointers `live` at `depth` look for it: the pointers that
/// go on through it.
struct KeyMatch<'p> {
    pointers: &'p [Pointer],
    live: &'p [usize],
    depth: usize,
}

/// A key as [`KeyMatch`] read it.
struct Key {
    /// The pointers that go on through it.
    next: SmallVec<[usize; 4]>,
    /// Whether it is serde_json's raw-value marker (see [`RAW_VALUE`]).
    raw: bool,
}

impl<'de> DeserializeSeed<'de> for KeyMatch<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        let next = self
            .live
            .iter()
            .copied()
            .filter(|&i| self.pointers[i].path()[self.depth] == key)
            .collect();
        Ok(Key {
            next,
            raw: key == RAW_TOKEN,
        })
    }
}

/// A value no pointer leads into, read through as `Value` would read it (the same numbers
/// out of range, the same bad escapes are errors) and dropped.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut first = true;
        while let Some(raw) = map.next_key_seed(RawKey)? {
            if std::mem::take(&mut first) && raw && *RAW_VALUE {
                raw_value(&mut map)?;
                return Ok(());
            }
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    scalars_pass!();
}

/// The key by which serde_json's `raw_value` feature marks an object that stands for the
/// JSON text in its value.
const RAW_TOKEN: &str = "$serde_json::private::RawValue";

/// Whether this build of serde_json has the `raw_value` feature (another crate of the build
/// can turn it on): then `Value` reads an object whose first key is [`RAW_TOKEN`] as the JSON
/// in that key's string, and leaves the object's other entries unread (so that they make
/// the text an error). The pass does the same, to accept and find what the tree does.
static RAW_VALUE: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    let marked = format!(r#"{{"{RAW_TOKEN}":"7"}}"#);
    serde_json::from_str::<Value>(&marked).is_ok_and(|v| v == 7)
});

/// Reads a raw-value object's first value the way `Value` does: a string, itself JSON.
fn raw_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Value, A::Error> {
    let text: String = map.next_value()?;
    serde_json::from_str(&text).map_err(serde::de::Error::custom)
}

/// A key read only to tell whether it is [`RAW_TOKEN`].
struct RawKey;

impl<'de> DeserializeSeed<'de> for RawKey {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for RawKey {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == RAW_TOKEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_compiled_pointer_finds_what_serde_json_finds() {
        let doc = serde_json::json!({
            "kvs": [{"value": "a"}, {"value": "b"}],
            "a/b": {"m~n": 1},
            "": {"": 2},
            "01": 3,
            "n": null,
        });
        let pointers = [
            "",
            "/kvs",
            "/kvs/0/value",
            "/kvs/1/value",
            "/kvs/2",
            "/kvs/01",
            "/kvs/-",
            "/a~1b/m~0n",
            "/a~1b/m~n",
            "/",
            "//",
            "/01",
            "/n",
            "/n/x",
            "kvs",
            "/kvs/0/value/x",
            "/kvs/+1",
        ];
        for p in pointers {
            assert_eq!(Pointer::new(p).find(&doc), doc.pointer(p), "pointer {p:?}");
        }
    }

    /// What the pointers find in the tree `serde_json::from_str` builds: the reference.
    fn by_tree(texts: &[String], body: &str) -> Option<Vec<Option<Value>>> {
        let tree: Value = serde_json::from_str(body).ok()?;
        Some(
            texts
                .iter()
                .map(|t| Pointer::new(t).find(&tree).cloned())
                .collect(),
        )
    }

    fn by_pass(texts: &[String], body: &str) -> Option<Vec<Option<Value>>> {
        let mut pointers = Pointers::default();
        let numbers: Vec<usize> = texts.iter().map(|t| pointers.add(t)).collect();
        let found = pointers.resolve(body)?;
        Some(numbers.iter().map(|&i| found.get(i).cloned()).collect())
    }

    #[test]
    fn one_pass_finds_what_the_tree_finds() {
        let texts: Vec<String> = [
            "",
            "/value",
            "/kvs/0/value",
            "/kvs/1",
            "/kvs/01",
            "/a",
            "/a/b",
            "/a~1b",
            "/m~0n",
            "/kvs",
            "/x/y/z",
            "no-slash",
            "/",
            "/kvs/-",
            "/0",
            "/x/0",
            "/$serde_json::private::RawValue",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let bodies = [
            r#"{"value":1}"#,
            r#"{"kvs":[{"key":"azE=","value":"MTI="},{"value":2}],"count":"1"}"#,
            r#"{"a":{"b":1},"a":{"c":2}}"#,
            r#"{"a":{"b":1},"a":5}"#,
            r#"{"a/b":1,"m~n":2,"":3}"#,
            r#"{"x":{"y":[1,2]},"value":null}"#,
            r#"[1,2,3]"#,
            r#""text""#,
            r#"{"value":1e400}"#,
            r#"{"value":1,"other":1e400}"#,
            r#"{"value":"\ud800"}"#,
            r#"{"value":1,"other":"\ud800"}"#,
            r#"{"value":1} trailing"#,
            r#"{"value":1"#,
            r#"{"val\u0075e":7}"#,
            "",
            "   ",
            r#"{"value":1,}"#,
            // serde_json's raw-value marker, first in an object and not.
            r#"{"$serde_json::private::RawValue":"[7]"}"#,
            r#"{"x":{"$serde_json::private::RawValue":"oops"},"value":1}"#,
            r#"{"x":{"$serde_json::private::RawValue":"[1]"},"value":1}"#,
            r#"{"$serde_json::private::RawValue":"1","x":2}"#,
            r#"{"a":1,"$serde_json::private::RawValue":"1"}"#,
            r#"{"$serde_json::private::RawValue":null}"#,
            r#"{"":"\ud800"}"#,
        ];
        for body in bodies {
            assert_eq!(by_pass(&texts, body), by_tree(&texts, body), "{body}");
            // Alone, a pointer meets no other that ends on its way.
            for text in &texts {
                let one = std::slice::from_ref(text);
                assert_eq!(by_pass(one, body), by_tree(one, body), "{text} in {body}");
            }
        }
    }

    fn json_text() -> impl Strategy<Value = String> {
        // Rarely, a number out of range or a lone surrogate: the whole text is then not JSON.
        let leaf = prop_oneof![
            4 => Just("null".to_string()),
            4 => Just("true".to_string()),
            4 => any::<i32>().prop_map(|n| n.to_string()),
            4 => Just("1.5".to_string()),
            4 => "[a-c]{0,2}".prop_map(|s| format!("\"{s}\"")),
            1 => Just("1e999".to_string()),
            1 => Just(r#""\ud800""#.to_string()),
        ];
        leaf.prop_recursive(4, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (
                        prop_oneof![6 => Just("a"), 2 => Just("b"), 1 => Just(RAW_TOKEN)],
                        inner
                    ),
                    0..4
                )
                .prop_map(|v| {
                    let fields: Vec<String> =
                        v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    fn pointer_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                6 => Just("a".to_string()),
                2 => Just("b".to_string()),
                2 => "[0-2]",
                1 => Just("01".to_string()),
                1 => Just(String::new()),
            ],
            0..4,
        )
        .prop_map(|tokens| tokens.iter().map(|t| format!("/{t}")).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn any_answer_and_pointers_give_what_the_tree_gives(
            body in json_text(),
            cut in 0..8usize,
            texts in prop::collection::vec(pointer_text(), 1..5),
        ) {
            // Now and then a cut answer, which is not JSON at all.
            let body = if cut == 0 { body[..body.len() / 2].to_string() } else { body };
            prop_assert_eq!(by_pass(&texts, &body), by_tree(&texts, &body), "{}", body);
            for text in &texts {
                let one = std::slice::from_ref(text);
                prop_assert_eq!(by_pass(one, &body), by_tree(one, &body), "{} in {}", text, body);
            }
        }
    }
}
