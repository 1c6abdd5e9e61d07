//! State access: raw and typed reads and writes, ordered prefix iteration, and copy-on-write
//! overlays.

use crate::Event;
use std::collections::BTreeMap;
use std::iter::Peekable;

/// Why a state access failed. None of these are the tx's fault except [`StateError::OutOfGas`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The gas meter ran out.
    #[error("out of gas: limit {limit}, needed at least {needed}")]
    OutOfGas {
        /// The gas limit.
        limit: u64,
        /// Gas that would have been used.
        needed: u64,
    },
    /// A stored value does not decode as its type: the state is corrupt.
    #[error("stored value under key {key:?} does not decode as {type_name}: {reason}")]
    Decode {
        /// The key, lossily shown.
        key: String,
        /// The expected type.
        type_name: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The storage backend failed.
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<StateError> for crate::TxError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::OutOfGas { .. } => {
                crate::TxError::new(crate::sdk::CODESPACE, crate::sdk::OUT_OF_GAS, e.to_string())
            }
            other => crate::TxError::fatal(other.to_string()),
        }
    }
}

/// An ordered iterator of key/value pairs.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StateError>> + 'a>;

/// An ordered iterator of keys and decoded values.
pub type TypedIter<'a, M> = Box<dyn Iterator<Item = Result<(Vec<u8>, M), StateError>> + 'a>;

/// The value of an index entry whose key alone carries the information. Never empty: ICS-23
/// cannot prove a stored empty value, nor the absence of a key next to one, so every value in
/// the authenticated store has at least one byte.
pub const INDEX_MARKER: &[u8] = &[1];

/// Read access to state.
pub trait StateRead {
    /// The value under `key`, if any.
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Every entry whose key starts with `prefix`, in ascending key order.
    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a>;
}

/// Write access to state.
pub trait StateWrite: StateRead {
    /// Sets `key` to `value`.
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateError>;
    /// Removes `key`.
    fn delete(&mut self, key: Vec<u8>) -> Result<(), StateError>;
    /// Records an event; it is dropped with the writes if the enclosing tx fails.
    fn emit_event(&mut self, event: Event);
}

/// Typed (protobuf) reads, for every [`StateRead`].
pub trait StateReadExt: StateRead {
    /// Decodes the value under `key` as `M`.
    fn get_proto<M: prost::Message + Default>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<M>, StateError> {
        let key = key.as_ref();
        match self.get_raw(key)? {
            None => Ok(None),
            Some(bytes) => M::decode(bytes.as_slice())
                .map(Some)
                .map_err(|e| StateError::Decode {
                    key: String::from_utf8_lossy(key).into_owned(),
                    type_name: std::any::type_name::<M>(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Decodes every value under `prefix` as `M`, in key order.
    fn prefix_proto<'a, M: prost::Message + Default + 'a>(
        &'a self,
        prefix: impl AsRef<[u8]>,
    ) -> TypedIter<'a, M> {
        Box::new(self.prefix_raw(prefix.as_ref()).map(|r| {
            let (k, v) = r?;
            let m = M::decode(v.as_slice()).map_err(|e| StateError::Decode {
                key: String::from_utf8_lossy(&k).into_owned(),
                type_name: std::any::type_name::<M>(),
                reason: e.to_string(),
            })?;
            Ok((k, m))
        }))
    }
}
impl<T: StateRead + ?Sized> StateReadExt for T {}

/// Typed (protobuf) writes, for every [`StateWrite`].
pub trait StateWriteExt: StateWrite {
    /// Encodes `value` and stores it under `key`.
    fn put_proto<M: prost::Message>(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: &M,
    ) -> Result<(), StateError> {
        self.put_raw(key.into(), value.encode_to_vec())
    }
}
impl<T: StateWrite + ?Sized> StateWriteExt for T {}

impl<T: StateRead + ?Sized> StateRead for &T {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get_raw(key)
    }
    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        (**self).prefix_raw(prefix)
    }
}

impl<T: StateRead + ?Sized> StateRead for &mut T {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get_raw(key)
    }
    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        (**self).prefix_raw(prefix)
    }
}

impl<T: StateWrite + ?Sized> StateWrite for &mut T {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateError> {
        (**self).put_raw(key, value)
    }
    fn delete(&mut self, key: Vec<u8>) -> Result<(), StateError> {
        (**self).delete(key)
    }
    fn emit_event(&mut self, event: Event) {
        (**self).emit_event(event)
    }
}

/// The writes and events of an overlay, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// `Some(value)` for a put, `None` for a delete.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Events in emission order.
    pub events: Vec<Event>,
}

impl Changes {
    /// Applies these changes on top of `target`.
    pub fn apply_to<S: StateWrite + ?Sized>(self, target: &mut S) -> Result<(), StateError> {
        for (k, v) in self.writes {
            match v {
                Some(v) => target.put_raw(k, v)?,
                None => target.delete(k)?,
            }
        }
        for e in self.events {
            target.emit_event(e);
        }
        Ok(())
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.events.is_empty()
    }
}

/// A copy-on-write layer over a parent state. Reads fall through to the parent for keys the
/// overlay has not touched; writes stay in the overlay until [`Overlay::into_changes`] hands them
/// to the caller, who applies them to the parent only if the work succeeded.
pub struct Overlay<S> {
    parent: S,
    changes: Changes,
}

impl<S: StateRead> Overlay<S> {
    /// A new empty layer over `parent`.
    pub fn new(parent: S) -> Self {
        Overlay {
            parent,
            changes: Changes::default(),
        }
    }

    /// A layer over `parent` that starts with `changes` already applied (used to resume a
    /// long-lived layer such as the mempool's).
    pub fn with_changes(parent: S, changes: Changes) -> Self {
        Overlay { parent, changes }
    }

    /// The parent.
    pub fn parent(&self) -> &S {
        &self.parent
    }

    /// The pending writes and events.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Ends the layer and returns its writes and events.
    pub fn into_changes(self) -> Changes {
        self.changes
    }

    /// Ends the layer and returns the parent and the changes.
    pub fn into_parts(self) -> (S, Changes) {
        (self.parent, self.changes)
    }
}

impl<S: StateWrite> Overlay<S> {
    /// Applies the layer's changes to its parent and returns the parent.
    pub fn commit(self) -> Result<S, StateError> {
        let (mut parent, changes) = self.into_parts();
        changes.apply_to(&mut parent)?;
        Ok(parent)
    }
}

impl<S: StateRead> StateRead for Overlay<S> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.parent.get_raw(key),
        }
    }

    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        let prefix_owned = prefix.to_vec();
        let local = self
            .changes
            .writes
            .range(prefix.to_vec()..)
            .take_while(move |(k, _)| k.starts_with(&prefix_owned));
        Box::new(MergeIter {
            base: self.parent.prefix_raw(prefix).peekable(),
            top: local.peekable(),
        })
    }
}

impl<S: StateRead> StateWrite for Overlay<S> {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateError> {
        self.changes.writes.insert(key, Some(value));
        Ok(())
    }
    fn delete(&mut self, key: Vec<u8>) -> Result<(), StateError> {
        self.changes.writes.insert(key, None);
        Ok(())
    }
    fn emit_event(&mut self, event: Event) {
        self.changes.events.push(event);
    }
}

/// Merges a base iterator with an overlay's sorted writes; the overlay wins on equal keys and
/// its deletes hide base entries.
struct MergeIter<'a, B: Iterator, T: Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>> {
    base: Peekable<B>,
    top: Peekable<T>,
}

impl<'a, B, T> Iterator for MergeIter<'a, B, T>
where
    B: Iterator<Item = Result<(Vec<u8>, Vec<u8>), StateError>>,
    T: Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
{
    type Item = Result<(Vec<u8>, Vec<u8>), StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let base_key = match self.base.peek() {
                Some(Ok((k, _))) => Some(k.clone()),
                Some(Err(_)) => return self.base.next(),
                None => None,
            };
            let top_key = self.top.peek().map(|(k, _)| (*k).clone());
            match (base_key, top_key) {
                (None, None) => return None,
                (Some(_), None) => return self.base.next(),
                (bk, Some(tk)) => {
                    if let Some(bk) = &bk {
                        if *bk < tk {
                            return self.base.next();
                        }
                        if *bk == tk {
                            // The overlay's entry shadows the base's.
                            self.base.next();
                        }
                    }
                    let (k, v) = self.top.next().expect("peeked just above");
                    match v {
                        Some(v) => return Some(Ok((k.clone(), v.clone()))),
                        None => continue,
                    }
                }
            }
        }
    }
}

/// An in-memory state, for unit tests and genesis dry runs.
#[derive(Clone, Debug, Default)]
pub struct MemState {
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    events: Vec<Event>,
}

impl MemState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events emitted so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the events emitted so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.data
    }
}

impl StateRead for MemState {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.data.get(key).cloned())
    }
    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        let p = prefix.to_vec();
        Box::new(
            self.data
                .range(prefix.to_vec()..)
                .take_while(move |(k, _)| k.starts_with(&p))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        )
    }
}

impl StateWrite for MemState {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateError> {
        self.data.insert(key, value);
        Ok(())
    }
    fn delete(&mut self, key: Vec<u8>) -> Result<(), StateError> {
        self.data.remove(&key);
        Ok(())
    }
    fn emit_event(&mut self, event: Event) {
        self.events.push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect<S: StateRead>(s: &S, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        s.prefix_raw(prefix).map(|r| r.unwrap()).collect()
    }

    #[test]
    fn overlay_shadows_and_deletes() {
        let mut base = MemState::new();
        base.put_raw(b"a/1".to_vec(), b"x".to_vec()).unwrap();
        base.put_raw(b"a/2".to_vec(), b"y".to_vec()).unwrap();
        base.put_raw(b"b/1".to_vec(), b"z".to_vec()).unwrap();
        let mut o = Overlay::new(&base);
        o.delete(b"a/1".to_vec()).unwrap();
        o.put_raw(b"a/3".to_vec(), b"w".to_vec()).unwrap();
        o.put_raw(b"a/2".to_vec(), b"Y".to_vec()).unwrap();
        assert_eq!(o.get_raw(b"a/1").unwrap(), None);
        assert_eq!(
            collect(&o, b"a/"),
            vec![
                (b"a/2".to_vec(), b"Y".to_vec()),
                (b"a/3".to_vec(), b"w".to_vec())
            ]
        );
        // The base is untouched until the changes are applied.
        assert_eq!(base.get_raw(b"a/1").unwrap(), Some(b"x".to_vec()));
    }

    #[test]
    fn nested_overlays_commit_inner_into_outer_only() {
        let base = MemState::new();
        let mut outer = Overlay::new(&base);
        outer.put_raw(b"k".to_vec(), b"1".to_vec()).unwrap();
        {
            let mut inner = Overlay::new(&outer);
            inner.put_raw(b"k".to_vec(), b"2".to_vec()).unwrap();
            inner.emit_event(Event::new("dropped"));
            // The inner layer is discarded (a failed tx).
            drop(inner.into_changes());
        }
        assert_eq!(outer.get_raw(b"k").unwrap(), Some(b"1".to_vec()));
        let changes = {
            let mut inner = Overlay::new(&outer);
            inner.put_raw(b"k".to_vec(), b"3".to_vec()).unwrap();
            inner.emit_event(Event::new("kept"));
            inner.into_changes()
        };
        changes.apply_to(&mut outer).unwrap();
        assert_eq!(outer.get_raw(b"k").unwrap(), Some(b"3".to_vec()));
        assert_eq!(outer.changes().events, vec![Event::new("kept")]);
    }

    #[test]
    fn typed_access_reports_corruption() {
        let mut s = MemState::new();
        s.put_proto(
            b"n".to_vec(),
            &prost_types::Duration {
                seconds: 5,
                nanos: 0,
            },
        )
        .unwrap();
        let d: prost_types::Duration = s.get_proto(b"n").unwrap().unwrap();
        assert_eq!(d.seconds, 5);
        s.put_raw(b"bad".to_vec(), vec![0xff, 0xff, 0xff]).unwrap();
        let err = s.get_proto::<prost_types::Duration>(b"bad").unwrap_err();
        assert!(matches!(err, StateError::Decode { .. }));
        let tx_err: crate::TxError = err.into();
        assert!(tx_err.fatal);
    }

    proptest! {
        /// An overlay over a base iterates exactly like the base with the writes applied.
        #[test]
        fn overlay_iteration_matches_applied_model(
            base_entries in proptest::collection::btree_map(proptest::collection::vec(0u8..4, 0..4), any::<u8>(), 0..20),
            ops in proptest::collection::vec((proptest::collection::vec(0u8..4, 0..4), proptest::option::of(any::<u8>())), 0..20),
            prefix in proptest::collection::vec(0u8..4, 0..2),
        ) {
            let mut base = MemState::new();
            for (k, v) in &base_entries { base.put_raw(k.clone(), vec![*v]).unwrap(); }
            let mut model = base.clone();
            let mut o = Overlay::new(&base);
            for (k, v) in &ops {
                match v {
                    Some(v) => { o.put_raw(k.clone(), vec![*v]).unwrap(); model.put_raw(k.clone(), vec![*v]).unwrap(); }
                    None => { o.delete(k.clone()).unwrap(); model.delete(k.clone()).unwrap(); }
                }
            }
            prop_assert_eq!(collect(&o, &prefix), collect(&model, &prefix));
        }
    }
}
