//! The recorder: streams history events to history.jsonl as they happen.
