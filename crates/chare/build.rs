//! Declares the `loom` cfg (model checking of the local machine layer's
//! sleep protocol, see `src/machine/local.rs`) so that `cfg(loom)` is not
//! reported as unexpected.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
