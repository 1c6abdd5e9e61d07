//! Events emitted by handlers and hooks; they become ABCI events.

/// One event: a type and ordered key/value attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event type, such as `"transfer"`.
    pub kind: String,
    /// Attributes in emission order.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    /// A new event with no attributes.
    pub fn new(kind: impl Into<String>) -> Self {
        Event {
            kind: kind.into(),
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute.
    pub fn attr(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.attributes.push((key.into(), value.to_string()));
        self
    }

    /// The value of the first attribute with this key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
