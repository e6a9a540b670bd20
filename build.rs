//! Generates the C header `fusedrnn.h` from `src/ffi` with cbindgen.
//!
//! The header is written to `OUT_DIR` (its path is given to the crate's tests as
//! `FUSEDRNN_GENERATED_HEADER`). With `FUSEDRNN_WRITE_HEADER=1` it is also copied to
//! `include/fusedrnn.h`, the committed copy; `tests/ffi.rs` fails when the two differ.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-env-changed=FUSEDRNN_WRITE_HEADER");

    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let var = |k: &str| env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));

    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("reading cbindgen.toml");
    config.after_includes = Some(format!(
        "\n#define FUSEDRNN_VERSION_MAJOR {}\n#define FUSEDRNN_VERSION_MINOR {}\n#define FUSEDRNN_VERSION_PATCH {}\n\
         #define FUSEDRNN_VERSION_STRING \"{}\"",
        var("CARGO_PKG_VERSION_MAJOR"),
        var("CARGO_PKG_VERSION_MINOR"),
        var("CARGO_PKG_VERSION_PATCH"),
        var("CARGO_PKG_VERSION"),
    ));

    let header = out_dir.join("fusedrnn.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("generating the C header from src/ffi")
        .write_to_file(&header);
    println!("cargo:rustc-env=FUSEDRNN_GENERATED_HEADER={}", header.display());

    // An unversioned SONAME, so that programs linked against the .so by its full path (as
    // CMake's imported targets do) still look it up by name at run time.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libfusedrnn.so");
    }

    if env::var_os("FUSEDRNN_WRITE_HEADER").is_some_and(|v| v == "1") {
        let dest = root.join("include").join("fusedrnn.h");
        fs::create_dir_all(root.join("include")).expect("creating include/");
        let fresh = fs::read(&header).expect("reading the generated header");
        if fs::read(&dest).ok().as_deref() != Some(&fresh[..]) {
            fs::write(&dest, fresh).expect("writing include/fusedrnn.h");
        }
    }
}
