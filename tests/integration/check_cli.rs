//! Integration tests: check_cli.
