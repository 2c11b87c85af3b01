//! Workload generators: seeded streams of operations (register, cas-register, set, list-append).
