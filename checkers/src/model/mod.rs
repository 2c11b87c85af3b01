//! Sequential models: pure step functions the linearizability checker searches over.

use serde_json::Value;

/// The sequential models `faultline check --model` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Register,
    CasRegister,
    Mutex,
    Set,
    MultiRegister,
}

impl ModelKind {
    pub const ALL: [ModelKind; 5] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Mutex,
        ModelKind::Set,
        ModelKind::MultiRegister,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Mutex => "mutex",
            ModelKind::Set => "set",
            ModelKind::MultiRegister => "multi-register",
        }
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Semantics a user may change from the defaults.
///
/// Defaults (DESIGN.md): a register starts as `null` (absent) and an `ok` read of `null`
/// means the key was absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelOptions {
    /// The initial value of every register (`null` = absent).
    pub initial: Value,
    /// Knossos's rule: an `ok` read of `null` observed nothing and matches any state.
    pub nil_read_matches_any: bool,
}
