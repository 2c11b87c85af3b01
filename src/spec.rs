//! Test specs (TOML): parsing, validation with file/line/key errors, CLI overrides.
