//! The README shows the C example verbatim: this fails when `ffi-tests/readme_example.c` (which
//! `tests/ffi.rs` compiles and runs) and the README's copy drift apart.

#[test]
fn readme_c_example_is_the_tested_file() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
    let c = std::fs::read_to_string(format!("{dir}/ffi-tests/readme_example.c")).unwrap();
    let block = format!("```c\n{c}```");
    assert!(
        readme.contains(&block),
        "README.md's C example differs from ffi-tests/readme_example.c: copy the file into the ```c block"
    );
}
