//! The store lifecycle on a node: install, start, readiness, kill, wipe, logs.
