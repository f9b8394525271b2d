//! Finding ONNX Runtime's CUDA execution provider (`libonnxruntime_providers_cuda.so`).
//!
//! ONNX Runtime loads its CUDA provider itself, from **the folder of the `libonnxruntime.so` that was
//! loaded** (with `libonnxruntime_providers_shared.so` beside it); it cannot be pointed elsewhere. So the
//! provider is usable only when it sits next to the loaded library, and it only works with a GPU build of
//! that library (the PyPI `onnxruntime-gpu==1.31.1` wheel, or the bundle made by
//! `../shared/tools/ort-cuda-bundle`). [`find`] looks in these places, in order, and reports each:
//!
//! 1. the builder's [`ort_cuda_path`](crate::PipelineBuilder::ort_cuda_path) (the library or its folder);
//! 2. the environment variable `CLO_ORT_CUDA_PATH` (file or folder);
//! 3. the folder of the loaded `libonnxruntime.so`;
//! 4. the `onnxruntime/capi` folder of the `python3` on `PATH` (the `onnxruntime-gpu` wheel puts it there);
//! 5. the system's library folders (`/usr/lib`, `/usr/local/lib`, `/usr/lib/x86_64-linux-gnu`).
//!
//! A provider found anywhere but next to the loaded library is reported with the fix: load ONNX Runtime
//! from that folder instead (`ORT_DYLIB_PATH` or the builder's `library_path`).

use std::path::{Path, PathBuf};

use crate::{CudaErrorKind, Error, Result};

/// The environment variable naming the CUDA provider library (or its folder).
pub(crate) const ORT_CUDA_PATH_ENV: &str = "CLO_ORT_CUDA_PATH";

/// The CUDA provider's file name.
pub(crate) const PROVIDER_FILE: &str = "libonnxruntime_providers_cuda.so";

/// The shared-provider bridge that must sit next to it.
pub(crate) const SHARED_FILE: &str = "libonnxruntime_providers_shared.so";

fn provider_in(p: &Path) -> PathBuf {
    if p.is_dir() { p.join(PROVIDER_FILE) } else { p.to_path_buf() }
}

/// Finds the CUDA provider next to `runtime_library` (the loaded `libonnxruntime.so`), looking in the
/// places of the [module docs](self) and recording each in the error.
///
/// # Errors
/// [`Error::Cuda`] listing every place tried and what was (or was not) there, with the fix.
pub(crate) fn find(explicit: Option<&Path>, runtime_library: &Path) -> Result<PathBuf> {
    let runtime_dir = runtime_library.parent().map(Path::to_path_buf).unwrap_or_default();
    let runtime_dir = std::fs::canonicalize(&runtime_dir).unwrap_or(runtime_dir);
    let mut tried = Vec::new();
    let mut elsewhere: Vec<PathBuf> = Vec::new();
    let mut consider = |what: &str, file: PathBuf, tried: &mut Vec<String>| -> Option<PathBuf> {
        if !file.is_file() {
            tried.push(format!("  {what}: {} does not exist", file.display()));
            return None;
        }
        let dir = file.parent().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()));
        if dir.as_deref() == Some(runtime_dir.as_path()) {
            if !runtime_dir.join(SHARED_FILE).is_file() {
                tried.push(format!("  {what}: {} found, but {SHARED_FILE} is missing beside it", file.display()));
                return None;
            }
            return Some(file);
        }
        tried.push(format!(
            "  {what}: {} found, but ONNX Runtime loads its providers only from its own folder ({})",
            file.display(),
            runtime_dir.display()
        ));
        elsewhere.push(file);
        None
    };
    match explicit {
        Some(p) => {
            if let Some(f) = consider("builder's ort_cuda_path", provider_in(p), &mut tried) {
                return Ok(f);
            }
        }
        None => tried.push("  builder's ort_cuda_path: not set".to_owned()),
    }
    match std::env::var_os(ORT_CUDA_PATH_ENV) {
        Some(v) if !v.is_empty() => {
            if let Some(f) = consider(&format!("${ORT_CUDA_PATH_ENV}"), provider_in(Path::new(&v)), &mut tried) {
                return Ok(f);
            }
        }
        _ => tried.push(format!("  ${ORT_CUDA_PATH_ENV}: not set")),
    }
    if let Some(f) = consider("next to the loaded libonnxruntime", runtime_dir.join(PROVIDER_FILE), &mut tried) {
        return Ok(f);
    }
    match crate::runtime::python_onnxruntime_dir() {
        Ok(capi) => {
            if let Some(f) = consider("Python onnxruntime(-gpu) package", capi.join(PROVIDER_FILE), &mut tried) {
                return Ok(f);
            }
        }
        Err(why) => tried.push(format!("  Python onnxruntime(-gpu) package: {why}")),
    }
    for dir in ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"] {
        if let Some(f) = consider("system", Path::new(dir).join(PROVIDER_FILE), &mut tried) {
            return Ok(f);
        }
    }
    let fix = match elsewhere.first().and_then(|f| f.parent()) {
        Some(dir) => format!(
            "load ONNX Runtime from {} (ORT_DYLIB_PATH={}/libonnxruntime.so.{} or the builder's library_path)",
            dir.display(),
            dir.display(),
            crate::runtime::ORT_VERSION
        ),
        None => format!(
            "install ONNX Runtime's GPU build (`pip install onnxruntime-gpu=={}`: its onnxruntime/capi/ folder \
             holds libonnxruntime.so with its CUDA provider) and load ONNX Runtime from there",
            crate::runtime::ORT_VERSION
        ),
    };
    Err(Error::cuda(
        CudaErrorKind::ProviderNotFound,
        format!(
            "ONNX Runtime's CUDA provider ({PROVIDER_FILE}) is not usable with the loaded {}; tried:\n{}\nfix: {fix}",
            runtime_library.display(),
            tried.join("\n")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("clo-provider-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn provider_next_to_runtime_is_found() {
        let d = temp("beside");
        std::fs::write(d.join("libonnxruntime.so"), b"").unwrap();
        std::fs::write(d.join(PROVIDER_FILE), b"").unwrap();
        std::fs::write(d.join(SHARED_FILE), b"").unwrap();
        let found = find(None, &d.join("libonnxruntime.so")).unwrap();
        assert_eq!(found.file_name().unwrap(), PROVIDER_FILE);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn provider_elsewhere_is_reported_with_the_fix() {
        let rt = temp("rt");
        let other = temp("other");
        std::fs::write(rt.join("libonnxruntime.so"), b"").unwrap();
        std::fs::write(other.join(PROVIDER_FILE), b"").unwrap();
        let err = find(Some(&other), &rt.join("libonnxruntime.so")).unwrap_err().to_string();
        assert!(err.contains("builder's ort_cuda_path"), "{err}");
        assert!(err.contains("loads its providers only from its own folder"), "{err}");
        assert!(err.contains(&format!("fix: load ONNX Runtime from {}", other.display())), "{err}");
        assert!(err.contains("next to the loaded libonnxruntime"), "{err}");
        std::fs::remove_dir_all(&rt).unwrap();
        std::fs::remove_dir_all(&other).unwrap();
    }

    #[test]
    fn missing_shared_bridge_is_named() {
        let d = temp("noshared");
        std::fs::write(d.join("libonnxruntime.so"), b"").unwrap();
        std::fs::write(d.join(PROVIDER_FILE), b"").unwrap();
        let err = find(None, &d.join("libonnxruntime.so")).unwrap_err().to_string();
        assert!(err.contains(SHARED_FILE), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
