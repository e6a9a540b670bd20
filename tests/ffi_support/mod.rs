//! The harness of the C ABI tests (`tests/ffi.rs`, `tests/ffi_stack.rs`): finds the
//! libraries cargo built, compiles the programs of `ffi-tests/` against them (shared and
//! static) and runs them natively and under valgrind; and the fixture-writing helpers.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use fusedrnn::rng::SplitMix64;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The header `build.rs` generated for this build.
pub const GENERATED_HEADER: &str = env!("FUSEDRNN_GENERATED_HEADER");

pub const C_FLAGS: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O1", "-g"];
pub const CXX_FLAGS: &[&str] = &["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O1", "-g"];
/// What a program linked against `libfusedrnn.a` needs besides it (as the README says).
pub const STATIC_LIBS: &[&str] = &["-lpthread", "-ldl", "-lm"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Shared,
    Static,
}

pub const LINKS: [Link; 2] = [Link::Shared, Link::Static];

pub struct Setup {
    /// Holds `libfusedrnn.so` and `libfusedrnn.a` (copies of this build's).
    pub lib_dir: PathBuf,
    /// Where programs and the fixture go.
    pub build_dir: PathBuf,
    /// The directory of the generated `fusedrnn.h`.
    pub include_dir: PathBuf,
}

/// Terminal output that `cargo test` does not capture.
pub fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// `<target>/<profile>`: this test runs as `<target>/<profile>/deps/ffi-<hash>`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("<profile>/deps/<exe>")
        .to_path_buf()
}

/// The cdylib and staticlib of this build: cargo writes them to `deps/` when it builds the
/// library for the tests (and to `<profile>/` for `cargo build`). If neither has them, builds
/// them with cargo into a separate target directory (the current one is locked by the
/// `cargo test` running us).
pub fn find_libs(profile: &Path) -> PathBuf {
    let has = |d: &Path| d.join("libfusedrnn.so").is_file() && d.join("libfusedrnn.a").is_file();
    for dir in [profile.join("deps"), profile.to_path_buf()] {
        if has(&dir) {
            return dir;
        }
    }
    let name = profile
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    let target = profile.parent().expect("<target>").join("ffi-fallback");
    loud(&format!(
        "ffi: libfusedrnn.so/.a not found in {}; building them into {}",
        profile.display(),
        target.display()
    ));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--lib", "--manifest-path"])
        .arg(Path::new(MANIFEST_DIR).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target);
    match name.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd.output().expect("running cargo build");
    assert!(
        out.status.success(),
        "cargo build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = target.join(&name);
    assert!(has(&dir), "cargo build made no libfusedrnn.so/.a in {}", dir.display());
    dir
}

/// Copies `from` to `to` through a temporary name (atomic for concurrent test processes).
pub fn copy_atomic(from: &Path, to: &Path) {
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(from, &tmp).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
    std::fs::rename(&tmp, to).expect("rename");
}

pub fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let profile = profile_dir();
        let found = find_libs(&profile);
        let build_dir = profile.join("ffi-tests");
        let lib_dir = build_dir.join("lib");
        std::fs::create_dir_all(&lib_dir).expect("creating the build dir");
        for f in ["libfusedrnn.so", "libfusedrnn.a"] {
            copy_atomic(&found.join(f), &lib_dir.join(f));
        }
        let include_dir = Path::new(GENERATED_HEADER).parent().expect("OUT_DIR").to_path_buf();
        Setup {
            lib_dir,
            build_dir,
            include_dir,
        }
    })
}

pub fn show(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Compiles `ffi-tests/<src>` (or another source under the repository) into a program linked
/// the `link` way; returns its path.
pub fn compile(src: &str, link: Link) -> PathBuf {
    let s = setup();
    let src_path = Path::new(MANIFEST_DIR).join(src);
    let cpp = src.ends_with(".cpp");
    let stem = src.replace(['/', '.'], "_");
    let exe = s.build_dir.join(format!(
        "{stem}-{}",
        if link == Link::Shared { "shared" } else { "static" }
    ));
    let mut cmd = Command::new(if cpp { "c++" } else { "cc" });
    cmd.args(if cpp { CXX_FLAGS } else { C_FLAGS })
        .arg("-I")
        .arg(&s.include_dir)
        .arg("-I")
        .arg(Path::new(MANIFEST_DIR).join("ffi-tests"))
        .arg(&src_path)
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Shared => {
            cmd.arg("-L").arg(&s.lib_dir).arg("-lfusedrnn");
        }
        Link::Static => {
            cmd.arg(s.lib_dir.join("libfusedrnn.a")).args(STATIC_LIBS);
        }
    }
    if !cpp {
        cmd.arg("-lm");
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running the compiler for {src}: {e}"));
    assert!(
        out.status.success(),
        "compiling {src} ({link:?}) failed: {cmd:?}\n{}",
        show(&out)
    );
    exe
}

pub fn valgrind_available() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs `exe` with `args` and `envs`, natively and (if installed) under valgrind; each run
/// must exit 0. Returns the native run's stdout.
pub fn run(exe: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    run_with(exe, args, envs, true)
}

/// As [`run`], under valgrind too only when `valgrind` is set.
pub fn run_with(exe: &Path, args: &[&str], envs: &[(&str, &str)], valgrind: bool) -> String {
    let s = setup();
    let native = Command::new(exe)
        .args(args)
        .envs(envs.iter().copied())
        .env("LD_LIBRARY_PATH", &s.lib_dir)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()));
    assert!(
        native.status.success(),
        "{} {args:?} failed\n{}",
        exe.display(),
        show(&native)
    );
    if !valgrind {
        // Native only, by choice of the caller.
    } else if valgrind_available() {
        let vg = Command::new("valgrind")
            .args([
                "-q",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite",
            ])
            .arg(exe)
            .args(args)
            .envs(envs.iter().copied())
            .env("LD_LIBRARY_PATH", &s.lib_dir)
            .output()
            .expect("running valgrind");
        assert!(
            vg.status.success(),
            "valgrind {} {args:?}: errors or definite leaks (exit 99) or a failure\n{}",
            exe.display(),
            show(&vg)
        );
    } else {
        loud(&format!(
            "\n!!!!!! SKIP: valgrind not found: {} ran natively only, NOT checked for memory errors/leaks !!!!!!\n",
            exe.display()
        ));
    }
    String::from_utf8_lossy(&native.stdout).into_owned()
}

// The fixture: cases with weights, inputs and what the reference computes from them.

pub fn uniform(len: usize, scale: f32, rng: &mut SplitMix64) -> Vec<f32> {
    (0..len).map(|_| scale * (2.0 * rng.next_f32() - 1.0)).collect()
}

pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

pub fn put<T: std::fmt::LowerExp>(out: &mut String, name: &str, v: &[T]) {
    writeln!(out, "{name} {}", v.len()).unwrap();
    for (k, a) in v.iter().enumerate() {
        write!(out, "{a:e}{}", if k % 8 == 7 { "\n" } else { " " }).unwrap();
    }
    out.push('\n');
}
