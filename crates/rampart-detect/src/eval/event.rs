//! Reading fields out of a JSON event, once per event: each field a route
//! uses is resolved on first use (flat key, dotted path, configured roots),
//! flattened to scalar values, and lowercased once, so every rule that
//! tests the same field reuses the same text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use serde_json::Value;

/// Deepest nesting walked when collecting keyword text.
const MAX_WALK_DEPTH: usize = 64;

/// Where a field may be found in an event, tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    candidates: Vec<Vec<String>>,
}

impl FieldPath {
    /// Builds the candidates for event field `name`: the flat key, its
    /// dotted path, then the same under each root (a dotted object path).
    pub fn new(name: &str, roots: &[String]) -> Self {
        let mut candidates = vec![vec![name.to_string()]];
        let dotted: Vec<String> = name.split('.').map(String::from).collect();
        if dotted.len() > 1 {
            candidates.push(dotted.clone());
        }
        for root in roots {
            let mut base: Vec<String> = root.split('.').filter(|s| !s.is_empty()).map(String::from).collect();
            if base.is_empty() {
                continue;
            }
            let mut flat = base.clone();
            flat.push(name.to_string());
            candidates.push(flat);
            if dotted.len() > 1 {
                base.extend(dotted.iter().cloned());
                candidates.push(base);
            }
        }
        candidates.dedup();
        Self { candidates }
    }

    /// Finds the field's value, if any candidate exists (even as `null`).
    pub fn resolve<'e>(&self, event: &'e Value) -> Option<&'e Value> {
        self.candidates.iter().find_map(|keys| keys.iter().try_fold(event, |v, k| v.as_object()?.get(k.as_str())))
    }
}

/// Lowercases without allocating when there is nothing to change.
pub fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(s.to_ascii_lowercase()) } else { Cow::Borrowed(s) }
    } else {
        let l = s.to_lowercase();
        if l == s { Cow::Borrowed(s) } else { Cow::Owned(l) }
    }
}

/// One scalar value of a field, with its text and lowercased text.
#[derive(Debug, Clone)]
pub struct FieldVal<'e> {
    /// The JSON value (never an array or object).
    pub raw: &'e Value,
    /// Text form: strings as they are, numbers and booleans rendered.
    pub text: Cow<'e, str>,
    /// `text`, lowercased.
    pub lower: Cow<'e, str>,
}

impl<'e> FieldVal<'e> {
    fn new(raw: &'e Value) -> Self {
        let text: Cow<'e, str> = match raw {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Number(n) => Cow::Owned(n.to_string()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            _ => Cow::Borrowed(""),
        };
        let lower = match &text {
            Cow::Borrowed(s) => lower(s),
            Cow::Owned(s) => Cow::Owned(lower(s).into_owned()),
        };
        Self { raw, text, lower }
    }

    /// The value as a number: JSON numbers, and strings holding a plain
    /// decimal (optional sign, digits, optional fraction; no exponent, so
    /// that the digits of an integer always appear in the text).
    pub fn number(&self) -> Option<f64> {
        match self.raw {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => {
                let t = s.trim();
                let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
                let plain = !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && digits.bytes().filter(|b| *b == b'.').count() <= 1
                    && digits.bytes().any(|b| b.is_ascii_digit());
                if plain { t.parse().ok() } else { None }
            }
            _ => None,
        }
    }

    /// Whether this is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.raw.is_null()
    }
}

/// Pushes the scalar values of `v` (array members one level down).
fn push_scalars<'e>(v: &'e Value, out: &mut Vec<FieldVal<'e>>) {
    match v {
        Value::Array(items) => {
            for item in items {
                if !item.is_array() && !item.is_object() {
                    out.push(FieldVal::new(item));
                }
            }
        }
        Value::Object(_) => {}
        scalar => out.push(FieldVal::new(scalar)),
    }
}

fn walk_strings<'e>(v: &'e Value, depth: usize, out: &mut Vec<FieldVal<'e>>) {
    if depth > MAX_WALK_DEPTH {
        return;
    }
    match v {
        Value::String(_) => out.push(FieldVal::new(v)),
        Value::Array(items) => items.iter().for_each(|i| walk_strings(i, depth + 1, out)),
        Value::Object(map) => map.values().for_each(|i| walk_strings(i, depth + 1, out)),
        _ => {}
    }
}

/// A multiply-rotate hasher (as in rustc's FxHash): event keys are short
/// and trusted to be no denial-of-service vector for a per-event lookup
/// whose table is fixed at compile time.
#[derive(Debug, Clone, Copy, Default)]
pub struct FxBuild;

/// The hasher of [`FxBuild`].
#[derive(Debug, Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for FxBuild {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

/// One way to reach a field: from a root object, through these keys.
#[derive(Debug, Clone)]
struct Probe {
    field: u32,
    /// Lower ranks win (the order `FieldPath::new` tries).
    rank: u16,
    /// Keys after the first.
    rest: Vec<String>,
}

/// Finds every field a rule set knows by walking the event's objects once:
/// each key of each root object is looked up here, instead of each known
/// field being looked up in the event (most are absent from any one event).
#[derive(Debug, Clone, Default)]
pub struct FieldIndex {
    /// Root object paths; index 0 is the event itself.
    roots: Vec<Vec<String>>,
    /// Per root, first key to the probes that start with it.
    by_key: Vec<HashMap<String, Vec<Probe>, FxBuild>>,
    fields: usize,
}

impl FieldIndex {
    fn root(&mut self, path: Vec<String>) -> usize {
        if let Some(i) = self.roots.iter().position(|r| *r == path) {
            return i;
        }
        self.roots.push(path);
        self.by_key.push(Default::default());
        self.roots.len() - 1
    }

    /// Registers field `field` (ids are dense, in order) as event field `name` under `roots`.
    pub fn add(&mut self, field: u32, name: &str, roots: &[String]) {
        self.root(Vec::new());
        let dotted: Vec<String> = name.split('.').map(String::from).collect();
        let mut rank = 0u16;
        let mut probe = |index: &mut Self, root: Vec<String>, keys: &[String]| {
            let r = index.root(root);
            if let Some((first, rest)) = keys.split_first() {
                let p = Probe { field, rank, rest: rest.to_vec() };
                index.by_key[r].entry(first.clone()).or_default().push(p);
            }
            rank += 1;
        };
        probe(self, Vec::new(), &[name.to_string()]);
        if dotted.len() > 1 {
            probe(self, Vec::new(), &dotted);
        }
        for root in roots {
            let base: Vec<String> = root.split('.').filter(|s| !s.is_empty()).map(String::from).collect();
            if base.is_empty() {
                continue;
            }
            probe(self, base.clone(), &[name.to_string()]);
            if dotted.len() > 1 {
                probe(self, base, &dotted);
            }
        }
        self.fields = self.fields.max(field as usize + 1);
    }
}

const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Cell<'e> {
    /// The field id it holds.
    field: u32,
    rank: u16,
    raw: &'e Value,
    /// Where its scalar values are in `vals`, once resolved.
    values: Option<(u32, u32)>,
}

/// An empty vector of another lifetime, in the same allocation (collecting
/// a vector's own `into_iter` reuses its memory); values borrowed from
/// one event never outlive it.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// What [`EventCtx`] allocates, kept empty between events.
#[derive(Debug, Default)]
pub struct Buffers {
    /// Per field id, `ABSENT` (the length is the field count).
    at: Vec<u32>,
    cells: Vec<Cell<'static>>,
    vals: Vec<FieldVal<'static>>,
}

/// The per-event view of the rule set's fields.
#[derive(Debug)]
pub struct EventCtx<'e> {
    event: &'e Value,
    /// Per field id, its cell or `ABSENT`.
    at: Vec<u32>,
    cells: Vec<Cell<'e>>,
    vals: Vec<FieldVal<'e>>,
    keywords: Option<Vec<FieldVal<'e>>>,
}

impl<'e> EventCtx<'e> {
    /// Locates every known field present in `event`, in one walk.
    pub fn new(event: &'e Value, index: &FieldIndex) -> Self {
        Self::with_buffers(event, index, Buffers::default())
    }

    /// Like [`EventCtx::new`], reusing the buffers that
    /// [`EventCtx::into_buffers`] returned, so that an event neither
    /// allocates nor fills a table of every field the rule set knows.
    pub fn with_buffers(event: &'e Value, index: &FieldIndex, buffers: Buffers) -> Self {
        let Buffers { mut at, cells, vals } = buffers;
        if at.len() != index.fields {
            at.clear();
            at.resize(index.fields, ABSENT);
        }
        let mut ctx = Self { event, at, cells: recycle(cells), vals: recycle(vals), keywords: None };
        for (root, keys) in index.roots.iter().zip(&index.by_key) {
            if keys.is_empty() {
                continue;
            }
            let Some(obj) =
                root.iter().try_fold(event, |v, k| v.as_object()?.get(k.as_str())).and_then(Value::as_object)
            else {
                continue;
            };
            for (key, value) in obj {
                for p in keys.get(key.as_str()).into_iter().flatten() {
                    let Some(raw) = p.rest.iter().try_fold(value, |v, k| v.as_object()?.get(k.as_str())) else {
                        continue;
                    };
                    let slot = &mut ctx.at[p.field as usize];
                    match ctx.cells.get_mut(*slot as usize) {
                        Some(cell) if cell.rank <= p.rank => {}
                        Some(cell) => *cell = Cell { field: p.field, rank: p.rank, raw, values: None },
                        None => {
                            *slot = ctx.cells.len() as u32;
                            ctx.cells.push(Cell { field: p.field, rank: p.rank, raw, values: None });
                        }
                    }
                }
            }
        }
        ctx
    }

    /// The buffers, emptied (every field absent again), for the next
    /// event's [`EventCtx::with_buffers`].
    pub fn into_buffers(self) -> Buffers {
        let Self { mut at, cells, vals, .. } = self;
        for cell in &cells {
            if let Some(slot) = at.get_mut(cell.field as usize) {
                *slot = ABSENT;
            }
        }
        Buffers { at, cells: recycle(cells), vals: recycle(vals) }
    }

    /// Flattens and lowercases field `id`'s values if not yet done.
    pub fn resolve(&mut self, id: u32) {
        let Some(cell) = self.at.get(id as usize).and_then(|c| self.cells.get_mut(*c as usize)) else { return };
        if cell.values.is_none() {
            let start = self.vals.len();
            push_scalars(cell.raw, &mut self.vals);
            cell.values = Some((start as u32, (self.vals.len() - start) as u32));
        }
    }

    /// Whether field `id` exists in the event (even as `null`).
    pub fn present(&self, id: u32) -> bool {
        self.at.get(id as usize).is_some_and(|c| *c != ABSENT)
    }

    /// The scalar values of field `id` (resolve first); empty when absent.
    pub fn values(&self, id: u32) -> &[FieldVal<'e>] {
        let cell = self.at.get(id as usize).and_then(|c| self.cells.get(*c as usize));
        match cell.and_then(|c| c.values) {
            Some((start, len)) => self.vals.get(start as usize..(start + len) as usize).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Collects every string in the event for keyword searches, once.
    pub fn resolve_keywords(&mut self) {
        if self.keywords.is_none() {
            let mut out = Vec::new();
            walk_strings(self.event, 0, &mut out);
            self.keywords = Some(out);
        }
    }

    /// The strings collected by `resolve_keywords`.
    pub fn keywords(&self) -> &[FieldVal<'e>] {
        self.keywords.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_keys_win_over_dotted_paths_and_roots_are_searched() {
        let ev = json!({"a.b": 1, "a": {"b": 2}, "Event": {"EventData": {"Image": "C:\\X.exe"}}});
        assert_eq!(FieldPath::new("a.b", &[]).resolve(&ev), Some(&json!(1)));
        let roots = vec!["Event.EventData".to_string()];
        assert_eq!(FieldPath::new("Image", &roots).resolve(&ev), Some(&json!("C:\\X.exe")));
        assert_eq!(FieldPath::new("Missing", &roots).resolve(&ev), None);
        let nested = json!({"a": {"b": {"c": "x"}}});
        assert_eq!(FieldPath::new("a.b.c", &[]).resolve(&nested), Some(&json!("x")));
    }

    #[test]
    fn the_index_finds_what_field_paths_find() {
        let ev = json!({"a.b": 1, "a": {"b": 2, "c": 3}, "Event": {"EventData": {"Image": "x", "a": {"c": 4}}}});
        let roots = vec!["Event.EventData".to_string()];
        let names = ["a.b", "a.c", "Image", "a", "Missing", "Event"];
        let mut index = FieldIndex::default();
        for (i, name) in names.iter().enumerate() {
            index.add(i as u32, name, &roots);
        }
        let mut ctx = EventCtx::new(&ev, &index);
        for (i, name) in names.iter().enumerate() {
            ctx.resolve(i as u32);
            let want = FieldPath::new(name, &roots).resolve(&ev);
            assert_eq!(ctx.present(i as u32), want.is_some(), "{name}");
            if let Some(w) = want.filter(|w| !w.is_object()) {
                assert_eq!(ctx.values(i as u32)[0].raw, w, "{name}");
            }
        }
    }

    #[test]
    fn values_are_flattened_and_lowercased_once() {
        let ev = json!({"F": ["AbC", 5, {"x": 1}], "N": null, "U": "Ünïcode"});
        let mut index = FieldIndex::default();
        for (i, name) in ["F", "N", "G", "U"].iter().enumerate() {
            index.add(i as u32, name, &[]);
        }
        let mut ctx = EventCtx::new(&ev, &index);
        for id in 0..4 {
            ctx.resolve(id);
        }
        let f = ctx.values(0);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].lower, "abc");
        assert_eq!(f[1].text, "5");
        assert!(ctx.present(1) && ctx.values(1)[0].is_null());
        assert!(!ctx.present(2) && ctx.values(2).is_empty());
        assert_eq!(ctx.values(3)[0].lower, "ünïcode");
        assert!(ctx.values(99).is_empty());
    }

    #[test]
    fn keyword_walk_is_bounded() {
        let mut deep = json!("needle");
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let ev = json!({"a": "x", "b": {"c": ["y"]}, "d": deep});
        let mut ctx = EventCtx::new(&ev, &FieldIndex::default());
        ctx.resolve_keywords();
        assert_eq!(ctx.keywords().len(), 2);
    }
}
