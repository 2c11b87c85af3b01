//! The runner: the phases of a test, from setup to teardown, under hard time limits.
