//! Examples live in examples/*.rs as binaries.
