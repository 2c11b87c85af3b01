//! Integration tests: demo_cli.
