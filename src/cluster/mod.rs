//! Nodes and clusters: the node API every backend implements (`local` network namespaces,
//! `loopback` plain processes, `ssh` real hosts), partitions and teardown.
