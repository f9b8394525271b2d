//! deploy/kserve-inferenceservice.yaml refers to what exists: the `serve` binary's flags (from its `--help`,
//! so a renamed flag fails here), the port it binds, and health routes that a running server answers. The
//! manifest's own args start a server (with the repository, host and port swapped for local ones).
#![cfg(feature = "serde")]

use crate::serve_common;

use std::process::Command;

use serde_norway::Value;
use serve_common::{Server, repository, root, serve_binary};

fn manifest() -> Value {
    let text = std::fs::read_to_string(root().join("deploy/kserve-inferenceservice.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

#[test]
fn inferenceservice_matches_the_serve_binary() {
    let m = manifest();
    assert_eq!(s(&m["apiVersion"]), "serving.kserve.io/v1beta1");
    assert_eq!(s(&m["kind"]), "InferenceService");
    let containers = m["spec"]["predictor"]["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    // KServe injects the storage initializer into the container of this name when STORAGE_URI is set.
    assert_eq!(s(&c["name"]), "kserve-container");
    let command: Vec<&str> = c["command"].as_sequence().unwrap().iter().map(s).collect();
    assert_eq!(command, ["/usr/local/bin/serve"], "the image installs the example binaries in /usr/local/bin");
    let args: Vec<String> = c["args"].as_sequence().unwrap().iter().map(|v| s(v).to_string()).collect();
    let value = |flag: &str| {
        let i = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("no {flag} in {args:?}"));
        args[i + 1].clone()
    };

    // Every flag exists in `serve --help`.
    let help = Command::new(serve_binary()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(&format!("  {flag} ")), "{flag} is not a flag of serve:\n{help}");
    }

    // In-cluster: bind every interface, on the port the probes and the container declare.
    assert_eq!(value("--host"), "0.0.0.0");
    let port: i64 = value("--http-port").parse().unwrap();
    assert_eq!(port, 8080);
    assert_eq!(c["ports"][0]["containerPort"].as_i64(), Some(port));
    // The repository comes from storageUri, which the storage initializer puts at /mnt/models.
    assert_eq!(value("--model-repository"), "/mnt/models");
    let env = c["env"].as_sequence().unwrap();
    assert!(env.iter().any(|e| s(&e["name"]) == "STORAGE_URI" && s(&e["value"]).contains("onnx_model_repository")));
    // Like the guide's Triton predictor on a GPU node.
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"].as_i64(), Some(1));
    assert_eq!(c["resources"]["requests"]["nvidia.com/gpu"].as_i64(), Some(1));

    // The manifest's args start a server (repository, host and port made local), which answers the probes.
    let mut local = args.clone();
    for (flag, v) in [
        ("--model-repository", repository().display().to_string()),
        ("--host", "127.0.0.1".into()),
        ("--http-port", "0".into()),
    ] {
        let i = local.iter().position(|a| a == flag).unwrap();
        local[i + 1] = v;
    }
    // Server::start adds `--port 0` first; the manifest's own `--http-port` (now 0 too) comes after it.
    let local: Vec<&str> = local.iter().map(String::as_str).collect();
    let server = Server::start(&local, &[]);
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["port"].as_i64(), Some(port), "{probe} port");
        let path = s(&get["path"]);
        assert!(path.starts_with("/v2/health/"), "{probe} {path}: the v2 health routes stay open without a token");
        let r = server.get(path);
        assert_eq!(r.status, 200, "{probe} {path} on a running serve");
    }
    // And the model the manifest loads is the one served.
    let r = server.get("/v2/models/ensemble/ready");
    assert_eq!(r.status, 200);
}
