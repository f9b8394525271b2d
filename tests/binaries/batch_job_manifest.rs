//! deploy/batch-job.yaml: a Kubernetes Indexed Job running `batch` sharded over its pods. Parsed, checked
//! against `batch --help` (a flag renamed in code fails here), and its exact arguments run locally for every
//! completion index with the volume mounts mapped to temporary folders: the shards' outputs together hold
//! every image once.
#![cfg(feature = "serde")]

use crate::batch_common;

use std::collections::BTreeMap;
use std::process::Command;

use batch_common::*;
use serde_norway::Value;

fn manifest() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/batch-job.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn indexed_job_uses_flags_that_batch_has() {
    let job = manifest();
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_u64().unwrap();
    assert!(completions > 1 && spec["parallelism"].as_u64().unwrap() >= 1);
    let c = &spec["template"]["spec"]["containers"][0];
    assert_eq!(strings(&c["command"]), ["/usr/local/bin/batch"], "the Dockerfiles install batch there");
    let args = strings(&c["args"]);

    let help = Command::new(batch_bin()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let flag = flag.split('=').next().unwrap();
        assert!(help.contains(&format!("  {flag} ")), "batch --help does not list {flag}:\n{help}");
    }
    let value = |flag: &str| args.iter().position(|a| a == flag).map(|i| args[i + 1].clone());
    assert_eq!(value("--shards"), Some(completions.to_string()), "--shards must equal completions");
    assert!(args.contains(&"--resume".to_string()), "a restarted pod must resume its shard");
    assert!(value("--output").unwrap().contains("{shard}"), "one output file per shard");

    // Every path argument lives under a volume mount, and each mount's volume is declared.
    let volumes: Vec<String> = spec["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            assert!(v["persistentVolumeClaim"]["claimName"].as_str().is_some(), "volume without a PVC");
            v["name"].as_str().unwrap().to_string()
        })
        .collect();
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    for m in mounts {
        assert!(volumes.contains(&m["name"].as_str().unwrap().to_string()), "mount of an undeclared volume");
    }
    let mount_paths: Vec<&str> = mounts.iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    for a in args.iter().filter(|a| a.starts_with('/')) {
        assert!(mount_paths.iter().any(|m| a.starts_with(m)), "{a} is not under a volume mount {mount_paths:?}");
    }
}

#[test]
fn the_jobs_arguments_shard_the_input_completely() {
    let job = manifest();
    let completions = job["spec"]["completions"].as_u64().unwrap();
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let tmp = TempDir::new("k8s-job");
    // Map each mount to a local folder: the model repository mount to the fixture repository.
    let mut map = BTreeMap::new();
    for m in c["volumeMounts"].as_sequence().unwrap() {
        let mount = m["mountPath"].as_str().unwrap().to_string();
        let local = if m["readOnly"].as_bool() == Some(true) {
            repository()
        } else {
            tmp.path().join(mount.trim_start_matches('/').replace('/', "_"))
        };
        map.insert(mount, local);
    }
    let args: Vec<String> = strings(&c["args"])
        .into_iter()
        .map(|a| match map.iter().find(|(m, _)| a.starts_with(m.as_str())) {
            Some((m, local)) => format!("{}{}", local.display(), &a[m.len()..]),
            None => a,
        })
        .collect();
    let input = std::path::PathBuf::from(args.last().unwrap());
    let images = make_images(&input, 10);

    let mut seen = BTreeMap::new();
    for index in 0..completions {
        let mut cmd = Command::new(batch_bin());
        // The manifest's arguments, then faster settings for this machine (later flags win).
        cmd.args(&args)
            .args(["--stage-mode", "native", "--threads", "2"])
            .env("JOB_COMPLETION_INDEX", index.to_string());
        run_ok(&mut cmd);
    }
    let out_template = args[args.iter().position(|a| a == "--output").unwrap() + 1].clone();
    for index in 0..completions {
        let (counts, _) = read_records(std::path::Path::new(&out_template.replace("{shard}", &index.to_string())));
        for (p, n) in counts {
            *seen.entry(p).or_insert(0) += n;
        }
    }
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), {
        let mut v = images.clone();
        v.sort();
        v
    });
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
}
