//! deploy/kserve-inferenceservice.yaml refers to what exists: the `serve` binary's flags (from its `--help`,
//! so a renamed flag fails here), the port it binds, and health routes that a running server answers. The
//! manifest's own args start a server (with the repository, host and port swapped for local ones).
//! deploy/kserve-canary.yaml is the same service with only the canary's fields changed, and the promote and
//! rollback patches that docs/deploy.md gives do what the page says.
#![cfg(feature = "serde")]

use crate::serve_common;

use std::process::Command;

use serde_norway::Value;
use serve_common::{Server, repository, root, serve_binary};

fn manifest() -> Value {
    read_manifest("deploy/kserve-inferenceservice.yaml")
}

fn read_manifest(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
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

/// The value of the canary's `STORAGE_URI`.
fn storage_uri(m: &serde_json::Value) -> &str {
    let env = m["spec"]["predictor"]["containers"][0]["env"].as_array().unwrap();
    let e = env.iter().find(|e| e["name"] == "STORAGE_URI").expect("STORAGE_URI in the container's env");
    e["value"].as_str().unwrap()
}

/// RFC 7396 JSON merge patch, as `kubectl patch --type merge` applies it: objects merge, `null` removes.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(Default::default());
    }
    let object = target.as_object_mut().unwrap();
    for (k, v) in fields {
        if v.is_null() {
            object.remove(k);
        } else {
            merge_patch(object.entry(k.clone()).or_insert(serde_json::Value::Null), v);
        }
    }
}

#[test]
fn canary_is_the_stable_service_with_a_new_repository_and_a_traffic_share() {
    let stable = serde_json::to_value(manifest()).unwrap();
    let canary = serde_json::to_value(read_manifest("deploy/kserve-canary.yaml")).unwrap();
    // The same InferenceService (a canary is a new revision of it, not a second service).
    assert_eq!(canary["metadata"]["name"], stable["metadata"]["name"]);
    assert_eq!(canary["kind"], stable["kind"]);
    assert_eq!(canary["apiVersion"], stable["apiVersion"]);
    let share = canary["spec"]["predictor"]["canaryTrafficPercent"].as_i64().expect("canaryTrafficPercent");
    assert!((1..=99).contains(&share), "a canary takes part of the traffic, not {share} %");
    assert!(stable["spec"]["predictor"].get("canaryTrafficPercent").is_none(), "the stable manifest has no canary");
    assert_eq!(canary["metadata"]["annotations"]["serving.kserve.io/enable-tag-routing"], "true");
    // A new repository version...
    let (new, old) = (storage_uri(&canary), storage_uri(&stable));
    assert_ne!(new, old, "the canary serves another repository version");
    assert!(new.contains("onnx_model_repository"), "{new}");
    // ...and otherwise exactly the stable service: same container, flags, probes and resources.
    let mut canary_as_stable = canary.clone();
    merge_patch(
        &mut canary_as_stable,
        &serde_json::json!({"metadata": {"annotations": null}, "spec": {"predictor": {"canaryTrafficPercent": null}}}),
    );
    let env = canary_as_stable["spec"]["predictor"]["containers"][0]["env"].as_array_mut().unwrap();
    for e in env.iter_mut().filter(|e| e["name"] == "STORAGE_URI") {
        e["value"] = old.into();
    }
    assert_eq!(canary_as_stable, stable, "the canary differs from the stable manifest only in the canary's fields");
}

#[test]
fn the_docs_promote_and_rollback_patches_do_what_they_say() {
    let page = std::fs::read_to_string(root().join("docs/deploy.md")).unwrap();
    let canary = serde_json::to_value(read_manifest("deploy/kserve-canary.yaml")).unwrap();
    let patches: Vec<(serde_json::Value, &str)> = page
        .lines()
        .filter(|l| l.starts_with("kubectl patch isvc"))
        .map(|l| {
            let name = canary["metadata"]["name"].as_str().unwrap();
            assert!(l.contains(&format!("isvc {name} ")), "{l}: patches the canary's service");
            assert!(l.contains("--type merge"), "{l}");
            let json = l.split('\'').nth(1).unwrap_or_else(|| panic!("{l}: no -p '...'"));
            let comment = l.split('#').nth(1).unwrap_or("").trim();
            (serde_json::from_str(json).unwrap_or_else(|e| panic!("{l}: {e}")), comment)
        })
        .collect();
    assert_eq!(patches.len(), 3, "widen, promote, roll back");
    for (patch, comment) in patches {
        let mut m = canary.clone();
        merge_patch(&mut m, &patch);
        let share = m["spec"]["predictor"].get("canaryTrafficPercent").and_then(|v| v.as_i64());
        match comment {
            c if c.starts_with("widen") => assert!(matches!(share, Some(2..=99)), "{c}: {share:?}"),
            // No canaryTrafficPercent: KServe routes everything to the latest revision.
            c if c.starts_with("promote") => assert_eq!(share, None, "{c}"),
            c if c.starts_with("roll back") => assert_eq!(share, Some(0), "{c}"),
            c => panic!("a patch line in docs/deploy.md without widen/promote/roll back: {c}"),
        }
        // Every patch keeps the new repository: moving traffic never changes what a revision serves.
        assert_eq!(storage_uri(&m), storage_uri(&canary));
    }
}
