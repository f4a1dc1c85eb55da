//! Puts `memory.x` where cortex-m-rt's `link.x` finds it and passes the linker script.
//!
//! The linker arguments are given here, not as `rustflags` in `.cargo/config.toml`, because a
//! `RUSTFLAGS` environment variable (such as CI's `-Dwarnings`) replaces those rustflags.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    // Flash starts at 0: do not page-align sections (see cortex-m-quickstart).
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
