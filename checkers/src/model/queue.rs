//! A FIFO queue: `enqueue v` appends `v` at the tail, `dequeue` removes and returns the head.
//!
//! ```text
//! process 0  |--enqueue 1--|  |--enqueue 2--|
//! process 1        |--dequeue 1--|       |--dequeue 2--|   |--dequeue null--|
//!                           queue: [] -> [1] -> [] -> [2] -> [] (empty)
//! ```
//!
//! An `enqueue` always succeeds. An `ok` dequeue returns the head; an `ok` dequeue of `null`
//! says the queue was empty (so a queue cannot hold `null`, and Knossos's nil rule does not
//! apply). A crashed (`info`) dequeue returned nothing anyone saw: it removes the head if
//! there is one. The initial value, if given, is the list of elements queued at the start.
//!
//! Anomalies: a dequeue of a value nobody enqueued (or whose enqueue failed), values
//! dequeued in another order than their enqueues completed (a reordering), a value dequeued
//! twice (a duplicate delivery), an empty dequeue while a completed enqueue's value was
//! still waiting (a lost or delayed element).
//!
//! States are whole queue contents (interned values, hash-consed to `u32` ids, transitions
//! memoised), so the search explores at most one state per distinct content; the search
//! stays exponential in the number of concurrent ops, as for every linearizable model.
//! Reference: Herlihy & Wing, "Linearizability: a correctness condition for concurrent
//! objects" (1990), whose second running example is a FIFO queue; Knossos
//! `knossos.model/fifo-queue`.

use serde_json::Value;

use super::values::States;
use super::{Model, ModelError, ModelKind, ModelOptions, Values};
use crate::history::{Op, Outcome};

/// A queue operation over interned values (0 is `null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueOp {
    Enqueue(u32),
    /// An `ok` dequeue that returned this value; `Dequeue(Some(0))` found the queue empty.
    /// `None` is a crashed dequeue: it removes the head, whatever it is, if there is one.
    Dequeue(Option<u32>),
}

/// The queue's step function over its contents, head first.
pub fn step(queue: &[u32], op: QueueOp) -> Option<Vec<u32>> {
    match op {
        QueueOp::Enqueue(v) => {
            let mut next = Vec::with_capacity(queue.len() + 1);
            next.extend_from_slice(queue);
            next.push(v);
            Some(next)
        }
        QueueOp::Dequeue(None) => Some(queue.get(1..).unwrap_or_default().to_vec()),
        QueueOp::Dequeue(Some(0)) => queue.is_empty().then(Vec::new),
        QueueOp::Dequeue(Some(v)) => match queue.split_first() {
            Some((&head, rest)) if head == v => Some(rest.to_vec()),
            _ => None,
        },
    }
}

/// A queue compiled for one key.
#[derive(Clone, Debug)]
pub struct QueueKey {
    pub values: Values,
    pub ops: Vec<QueueOp>,
    states: States<Vec<u32>>,
    init: u32,
}

impl QueueKey {
    pub fn compile(options: &ModelOptions, ops: &[&Op]) -> Result<QueueKey, ModelError> {
        let mut values = Values::default();
        let mut compiled = Vec::with_capacity(ops.len());
        for op in ops {
            compiled.push(match op.f.as_str() {
                "enqueue" if op.value.is_null() => {
                    return Err(ModelError::new(
                        op,
                        "a queue cannot hold null (a dequeue of null means empty)",
                    ))
                }
                "enqueue" => QueueOp::Enqueue(values.intern(&op.value)),
                "dequeue" if op.outcome == Outcome::Ok => {
                    QueueOp::Dequeue(Some(values.intern(&op.value)))
                }
                "dequeue" => QueueOp::Dequeue(None),
                _ => return Err(ModelError::unknown_f(op, ModelKind::Queue)),
            });
        }
        let start = match &options.initial {
            Value::Null => Vec::new(),
            Value::Array(items) if items.iter().all(|v| !v.is_null()) => {
                items.iter().map(|v| values.intern(v)).collect()
            }
            other => match ops.first() {
                Some(first) => {
                    return Err(ModelError::new(
                        first,
                        format!(
                            "the initial value of a queue must be a list of non-null \
                             elements, not {other}"
                        ),
                    ))
                }
                None => Vec::new(),
            },
        };
        let mut states = States::default();
        let init = states.intern(start);
        Ok(QueueKey {
            values,
            ops: compiled,
            states,
            init,
        })
    }
}

impl Model for QueueKey {
    type Op = QueueOp;

    fn ops(&self) -> &[QueueOp] {
        &self.ops
    }

    fn init(&mut self) -> u32 {
        self.init
    }

    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        let compiled = self.ops[op];
        self.states.step(state, op, |queue| step(queue, compiled))
    }

    fn state_value(&self, state: u32) -> Value {
        Value::Array(
            self.states
                .get(state)
                .iter()
                .map(|&v| self.values.value(v).clone())
                .collect(),
        )
    }

    fn noun(&self) -> &'static str {
        "queue"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequeues_return_values_in_the_order_they_were_enqueued() {
        let q = step(&[], QueueOp::Enqueue(1)).unwrap();
        let q = step(&q, QueueOp::Enqueue(2)).unwrap();
        assert_eq!(q, vec![1, 2]);
        assert!(step(&q, QueueOp::Dequeue(Some(2))).is_none());
        assert_eq!(step(&q, QueueOp::Dequeue(Some(1))).unwrap(), vec![2]);
    }

    #[test]
    fn an_empty_dequeue_needs_an_empty_queue() {
        assert_eq!(
            step(&[], QueueOp::Dequeue(Some(0))).unwrap(),
            Vec::<u32>::new()
        );
        assert!(step(&[3], QueueOp::Dequeue(Some(0))).is_none());
    }

    #[test]
    fn a_crashed_dequeue_removes_the_head_if_there_is_one() {
        assert_eq!(step(&[3, 4], QueueOp::Dequeue(None)).unwrap(), vec![4]);
        assert_eq!(
            step(&[], QueueOp::Dequeue(None)).unwrap(),
            Vec::<u32>::new()
        );
    }
}
