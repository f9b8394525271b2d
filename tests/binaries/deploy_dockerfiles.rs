//! deploy/Dockerfile and deploy/Dockerfile.cuda cannot be built here (no container engine), so this checks
//! what they reference: the ONNX Runtime version is the crate's, the binaries they copy are examples that
//! exist, `ORT_DYLIB_PATH` names the library the ONNX Runtime stage installs, stages referenced exist, and the
//! CUDA variant takes the onnxruntime-gpu wheel's provider libraries onto a CUDA 13 base.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

struct Instr {
    op: String,
    args: String,
}

/// Dockerfile instructions with `\` continuations joined and comments dropped.
fn parse(text: &str) -> Vec<Instr> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (op, args) = cur.split_once(char::is_whitespace).unwrap_or((&cur, ""));
        out.push(Instr { op: op.to_uppercase(), args: args.trim().to_string() });
        cur.clear();
    }
    assert!(cur.is_empty(), "dangling continuation");
    out
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check(file: &str, wheel: &str) -> Vec<Instr> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let instrs = parse(&text);
    let known = ["ARG", "FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "EXPOSE", "CMD", "ENTRYPOINT"];
    for i in &instrs {
        assert!(known.contains(&i.op.as_str()), "{file}: unexpected instruction {} {}", i.op, i.args);
    }
    // ARG defaults (the global ones, before the first FROM, are what `${...}` in FROM lines see).
    let args: BTreeMap<&str, &str> =
        instrs.iter().filter(|i| i.op == "ARG").filter_map(|i| i.args.split_once('=')).collect();
    assert_eq!(args.get("ORT_VERSION"), Some(&clo_pipeline::runtime::ORT_VERSION), "{file}: ORT_VERSION");

    // Stages: every `--from=` names an earlier stage.
    let mut stages = BTreeSet::new();
    for i in &instrs {
        if i.op == "FROM" {
            let name = i.args.split_whitespace().collect::<Vec<_>>();
            assert!(name.len() == 3 && name[1].eq_ignore_ascii_case("AS"), "{file}: unnamed stage {}", i.args);
            stages.insert(name[2].to_string());
        }
        if let Some(from) = i.args.split_whitespace().find_map(|a| a.strip_prefix("--from=")) {
            assert!(stages.contains(from), "{file}: COPY --from={from}: no such earlier stage");
        }
    }
    assert!(stages.contains("build") && stages.contains("runtime"), "{file}: stages {stages:?}");

    // The build stage builds every example, locked to Cargo.lock.
    assert!(
        instrs.iter().any(|i| i.op == "RUN" && i.args.contains("cargo build --release --locked --examples")),
        "{file}: no `cargo build --release --locked --examples`"
    );
    assert!(root().join("Cargo.lock").is_file());

    // The binaries: copied from the build stage's examples folder, to /usr/local/bin/<name>, and each an
    // example of this crate.
    let cargo_toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut installed = BTreeSet::new();
    for i in instrs.iter().filter(|i| i.op == "COPY" && i.args.starts_with("--from=build ")) {
        let parts: Vec<&str> = i.args.split_whitespace().collect();
        let (src, dst) = (parts[1], parts[2]);
        let name = src.strip_prefix("/src/target/release/examples/").expect("copies an example binary");
        assert_eq!(dst, format!("/usr/local/bin/{name}"), "{file}");
        // An example is `examples/<name>.rs` or a folder `examples/<name>/main.rs`.
        let single = root().join("examples").join(format!("{name}.rs"));
        let folder = root().join("examples").join(name).join("main.rs");
        assert!(single.is_file() || folder.is_file(), "{file}: copies example `{name}`, which does not exist");
        if !cargo_toml.contains(&format!("name = \"{name}\"")) {
            println!("{file}: example `{name}` has no [[example]] entry (fine unless it needs features)");
        }
        installed.insert(name.to_string());
    }
    for needed in ["serve", "batch"] {
        assert!(installed.contains(needed), "{file}: /usr/local/bin/{needed} is not installed");
    }
    // The command runs what is installed.
    let cmd = instrs.iter().rfind(|i| i.op == "CMD").expect("CMD");
    let argv: Vec<String> = serde_json::from_str(&cmd.args).expect("CMD in exec (JSON) form");
    let bin = argv[0].strip_prefix("/usr/local/bin/").expect("CMD runs an installed binary");
    assert!(installed.contains(bin), "{file}: CMD runs {bin}");

    // ONNX Runtime: the wheel at the crate's version, its library where ORT_DYLIB_PATH points.
    let run = instrs.iter().filter(|i| i.op == "RUN").map(|i| i.args.as_str()).collect::<Vec<_>>().join("\n");
    assert!(
        run.contains(&format!("pip download --no-deps --only-binary=:all: \"{wheel}==${{ORT_VERSION}}\"")),
        "{file}: {wheel} wheel"
    );
    assert!(run.contains("onnxruntime/capi/libonnxruntime.so.${ORT_VERSION}"), "{file}: library copied from the wheel");
    assert!(run.contains("ln -s libonnxruntime.so.${ORT_VERSION} /opt/onnxruntime/libonnxruntime.so"));
    let env =
        instrs.iter().find(|i| i.op == "ENV" && i.args.starts_with("ORT_DYLIB_PATH=")).expect("ENV ORT_DYLIB_PATH");
    assert_eq!(env.args, "ORT_DYLIB_PATH=/opt/onnxruntime/libonnxruntime.so", "{file}");
    assert!(
        instrs.iter().any(|i| i.op == "COPY" && i.args == "--from=onnxruntime /opt/onnxruntime /opt/onnxruntime"),
        "{file}: the runtime stage does not get /opt/onnxruntime"
    );
    instrs
}

#[test]
fn cpu_dockerfile_references_what_exists() {
    let instrs = check("deploy/Dockerfile", "onnxruntime");
    let runtime = instrs.iter().rfind(|i| i.op == "FROM").unwrap();
    assert!(runtime.args.starts_with("debian:") && runtime.args.contains("-slim"), "{}", runtime.args);
}

#[test]
fn cuda_dockerfile_references_what_exists() {
    let instrs = check("deploy/Dockerfile.cuda", "onnxruntime-gpu");
    let run = instrs.iter().filter(|i| i.op == "RUN").map(|i| i.args.as_str()).collect::<String>();
    for lib in ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"] {
        assert!(run.contains(&format!("/ort/onnxruntime/capi/{lib}")), "CUDA image lacks {lib}");
    }
    let base = instrs.iter().find(|i| i.op == "ARG" && i.args.starts_with("CUDA_IMAGE=")).unwrap();
    assert!(
        base.args.starts_with("CUDA_IMAGE=nvidia/cuda:13.") && base.args.contains("cudnn-runtime"),
        "{}",
        base.args
    );
    assert_eq!(instrs.iter().rfind(|i| i.op == "FROM").unwrap().args, "${CUDA_IMAGE} AS runtime");
}

#[test]
fn docker_context_excludes_build_outputs() {
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for p in ["target/", ".local/"] {
        assert!(ignore.lines().any(|l| l.trim() == p), ".dockerignore lacks {p}");
    }
}
