//! Transactional checking, Elle-style: list-append and rw-register.

use crate::history::History;
use crate::verdict::{Budget, CheckResult, Checker};

/// The isolation level a transactional history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsistencyModel {
    ReadCommitted,
    SnapshotIsolation,
    Serializable,
    StrictSerializable,
}

impl ConsistencyModel {
    pub const ALL: [ConsistencyModel; 4] = [
        ConsistencyModel::ReadCommitted,
        ConsistencyModel::SnapshotIsolation,
        ConsistencyModel::Serializable,
        ConsistencyModel::StrictSerializable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConsistencyModel::ReadCommitted => "read-committed",
            ConsistencyModel::SnapshotIsolation => "snapshot-isolation",
            ConsistencyModel::Serializable => "serializable",
            ConsistencyModel::StrictSerializable => "strict-serializable",
        }
    }

    pub fn from_name(name: &str) -> Option<ConsistencyModel> {
        ConsistencyModel::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Elle's list-append checker.
#[derive(Clone, Debug)]
pub struct ListAppend {
    pub model: ConsistencyModel,
}

impl Checker for ListAppend {
    fn name(&self) -> &str {
        "list-append"
    }

    fn check(&self, _history: &History, _budget: &Budget) -> CheckResult {
        CheckResult::unknown(self.name(), "the list-append checker is not built yet")
    }
}

/// Elle's rw-register checker.
#[derive(Clone, Debug)]
pub struct RwRegister {
    pub model: ConsistencyModel,
}

impl Checker for RwRegister {
    fn name(&self) -> &str {
        "rw-register"
    }

    fn check(&self, _history: &History, _budget: &Budget) -> CheckResult {
        CheckResult::unknown(self.name(), "the rw-register checker is not built yet")
    }
}
