//! Clients: the `Client` trait and the declarative HTTP client built from a test spec.
