//! Invalid uses of `#[circuit]` are compile errors that point at the cause. Three files, so that
//! trybuild compiles three small crates (about 10 s in CI, dependencies built once).
//!
//! Regenerate the expected output after a deliberate change with `TRYBUILD=overwrite cargo test
//! -p breaker-macros --test compile_fail`, and read the diff.

#[test]
fn invalid_uses_fail_to_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/options.rs");
    t.compile_fail("tests/ui/signature.rs");
    t.compile_fail("tests/ui/const_config.rs");
}
