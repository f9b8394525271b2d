//! The kernel registry matches the `kernels/` folder: every `.cu` file is registered with its real text,
//! every entry point is defined, and every header a module includes is handed to NVRTC.
#![cfg(feature = "cuda")]

use std::collections::BTreeSet;
use std::path::Path;

use clo_pipeline::cuda::kernels::{KERNELS, kernel};

fn kernels_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/kernels"))
}

/// The names in `#include "…"` lines of `text`.
fn includes(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#include \""))
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

#[test]
fn every_cu_file_is_registered_with_its_current_text() {
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(kernels_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cu") {
            on_disk.insert(path.file_name().unwrap().to_str().unwrap().to_owned());
        }
    }
    let registered: BTreeSet<String> = KERNELS.iter().map(|k| k.file.to_owned()).collect();
    assert_eq!(on_disk, registered, "kernels/*.cu and KERNELS differ");
    for k in KERNELS {
        let text = std::fs::read_to_string(kernels_dir().join(k.file)).unwrap();
        assert_eq!(text, k.source, "{}: registered text differs from the file", k.file);
        assert_eq!(kernel(k.name), Some(k));
    }
    let names: BTreeSet<&str> = KERNELS.iter().map(|k| k.name).collect();
    assert_eq!(names.len(), KERNELS.len(), "duplicate module names");
}

#[test]
fn every_entry_point_is_defined() {
    for k in KERNELS {
        assert!(!k.entry_points.is_empty(), "{}: no entry points", k.file);
        for ep in k.entry_points {
            let decl = format!("extern \"C\" __global__ void {ep}(");
            assert!(k.source.contains(&decl), "{}: `{decl}` not found", k.file);
        }
        // And nothing global is left unregistered.
        let defined = k.source.matches("extern \"C\" __global__ void ").count();
        assert_eq!(defined, k.entry_points.len(), "{}: entry points not all registered", k.file);
    }
}

#[test]
fn every_included_header_is_registered() {
    for k in KERNELS {
        let registered: BTreeSet<&str> = k.headers.iter().map(|h| h.name).collect();
        let mut texts = vec![k.source];
        texts.extend(k.headers.iter().map(|h| h.source));
        for text in texts {
            for inc in includes(text) {
                // cpu_shim.h is included only under CLO_CPU_SHIM (the C++ build), never by NVRTC.
                if inc == "cpu_shim.h" {
                    continue;
                }
                assert!(registered.contains(inc), "{}: includes `{inc}`, not in its headers", k.file);
            }
        }
        for h in k.headers {
            let text = std::fs::read_to_string(kernels_dir().join(h.name)).unwrap();
            assert_eq!(text, h.source, "{}: registered text differs from the file", h.name);
        }
    }
}
