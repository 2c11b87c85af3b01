//! The linearizability checker (WGL search).

use crate::history::History;
use crate::model::{ModelKind, ModelOptions};
use crate::verdict::{Budget, CheckResult, Checker};

/// Checks that a history is linearizable with respect to a sequential model, each key
/// independently.
#[derive(Clone, Debug)]
pub struct Linearizable {
    pub model: ModelKind,
    pub options: ModelOptions,
}

impl Checker for Linearizable {
    fn name(&self) -> &str {
        "linearizable"
    }

    fn check(&self, _history: &History, _budget: &Budget) -> CheckResult {
        CheckResult::unknown(self.name(), "the linearizability search is not built yet")
    }
}
