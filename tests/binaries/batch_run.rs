//! The `batch` example binary end to end: one record per input, error records for bad files, shards that
//! partition the input, resume, torn lines, and setup errors reported before any work.
#![cfg(feature = "serde")]

use crate::batch_common;

use std::collections::BTreeSet;
use std::io::Write;

use batch_common::*;

#[test]
fn one_record_per_input_and_bad_files_become_error_records() {
    let tmp = TempDir::new("records");
    let input = tmp.path().join("in");
    let mut good = make_images(&input, 5);
    // A truncated PNG, a zero-byte PNG, a text file named .jpg: each an error record, none stops the run.
    let coffee = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images/coffee.png")).unwrap();
    std::fs::write(input.join("corrupt.png"), &coffee[..coffee.len() / 3]).unwrap();
    std::fs::write(input.join("zero.png"), b"").unwrap();
    std::fs::write(input.join("d1/not_an_image.jpg"), b"hello, I am text").unwrap();
    std::fs::write(input.join("notes.txt"), b"not an image extension: not an input").unwrap();
    let crops = tmp.path().join("crops");
    let out = tmp.path().join("out/records.jsonl");
    let stderr = run_ok(batch(&out).arg(&input).arg("--save-crops").arg(&crops));

    let (counts, records) = read_records(&out);
    let bad = ["corrupt.png", "zero.png", "d1/not_an_image.jpg"].map(|f| input.join(f).display().to_string());
    good.sort();
    let mut expected: BTreeSet<String> = good.iter().cloned().collect();
    expected.extend(bad.iter().cloned());
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|&c| c == 1), "duplicates: {counts:?}");

    for r in &records {
        let path = r["path"].as_str().unwrap();
        if bad.iter().any(|b| b == path) {
            let kind = r["error"]["kind"].as_str().unwrap();
            let want = if path.ends_with("corrupt.png") {
                "decode"
            } else if path.ends_with("zero.png") {
                "empty"
            } else {
                "unsupported"
            };
            assert_eq!(kind, want, "{r}");
            assert!(!r["error"]["message"].as_str().unwrap().is_empty());
        } else {
            assert!(r.get("error").is_none(), "{r}");
            let oil = r["oil_pct"].as_f64().unwrap();
            assert!(oil.is_finite(), "{r}");
            assert_eq!(r["crop_box"].as_array().unwrap().len(), 4);
            assert!(r["timings"]["total_ms"].as_f64().unwrap() > 0.0);
            assert!(r["detections"].is_array());
            let crop = std::path::PathBuf::from(r["crop"].as_str().unwrap());
            assert!(crop.starts_with(&crops) && crop.is_file(), "{r}");
            let rel = std::path::Path::new(path).strip_prefix(&input).unwrap();
            assert_eq!(crop, crops.join(format!("{}.png", rel.display())));
            let img = clo_pipeline::image::open(&crop).unwrap();
            assert_eq!((img.width(), img.height()), (384, 384));
        }
    }
    let s = summary(&stderr);
    assert_eq!((s["processed"].as_u64(), s["ok"].as_u64(), s["errors"].as_u64()), (Some(8), Some(5), Some(3)));
    assert!(s["p50_ms"].as_f64().unwrap() > 0.0 && s["p95_ms"].as_f64() >= s["p50_ms"].as_f64());
    assert!(s["frames_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_same_images_give_the_library_result() {
    let tmp = TempDir::new("library");
    let out = tmp.path().join("o.jsonl");
    let img = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images/chelsea.png");
    run_ok(batch(&out).arg(img));
    let (_, records) = read_records(&out);
    let pipeline =
        clo_pipeline::Pipeline::builder(repository()).stage_mode(clo_pipeline::StageMode::Native).build().unwrap();
    let lib = pipeline.infer(&clo_pipeline::image::open(img).unwrap()).unwrap();
    let r = &records[0];
    assert_eq!(r["oil_pct"].as_f64().unwrap() as f32, lib.oil_pct);
    assert_eq!(r["best"].as_u64().map(|b| b as usize), lib.best);
    assert_eq!(r["detections"].as_array().unwrap().len(), lib.detections.len());
}

#[test]
fn shards_partition_the_input() {
    let tmp = TempDir::new("shards");
    let input = tmp.path().join("in");
    let all: BTreeSet<String> = make_images(&input, 12).into_iter().collect();
    let mut union = BTreeSet::new();
    let mut shard1 = BTreeSet::new();
    for i in 0..3 {
        let out = tmp.path().join(format!("shard-{i}.jsonl"));
        run_ok(batch(&out).arg(&input).arg("--shard").arg(format!("{i}/3")));
        let (counts, _) = read_records(&out);
        assert!(counts.len() < all.len(), "shard {i}/3 took everything");
        for p in counts.keys() {
            assert!(union.insert(p.clone()), "{p} in two shards");
        }
        if i == 1 {
            shard1 = counts.keys().cloned().collect();
        }
    }
    assert_eq!(union, all);
    // Kubernetes' Indexed Job: the index from JOB_COMPLETION_INDEX, `{shard}` in the output name.
    let template = tmp.path().join("k8s-{shard}.jsonl");
    run_ok(batch(&template).arg(&input).args(["--shards", "3"]).env("JOB_COMPLETION_INDEX", "1"));
    let (counts, _) = read_records(&tmp.path().join("k8s-1.jsonl"));
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), shard1);
    // An index without a count, or out of range, is refused.
    let out = tmp.path().join("bad.jsonl");
    let o = batch(&out).arg(&input).env("JOB_COMPLETION_INDEX", "0").output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pass --shards N"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = batch(&out).arg(&input).args(["--shards", "3"]).env("JOB_COMPLETION_INDEX", "3").output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("JOB_COMPLETION_INDEX=\"3\" is not an index below 3"), "{err}");
}

#[test]
fn glob_and_list_inputs() {
    let tmp = TempDir::new("glob");
    let input = tmp.path().join("in");
    let images = make_images(&input, 6);
    let out = tmp.path().join("glob.jsonl");
    run_ok(batch(&out).arg(format!("{}/d0/*.png", input.display())));
    let (counts, _) = read_records(&out);
    let d0: BTreeSet<String> = images.iter().filter(|p| p.contains("/d0/")).cloned().collect();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), d0);

    let list = tmp.path().join("list.txt");
    let missing = input.join("missing.png").display().to_string();
    std::fs::write(&list, format!("{}\n# a comment\n\n{}\n{missing}\n", images[1], images[4])).unwrap();
    let out = tmp.path().join("list.jsonl");
    run_ok(batch(&out).arg(format!("@{}", list.display())));
    let (counts, records) = read_records(&out);
    assert_eq!(counts.len(), 3);
    let err = records.iter().find(|r| r["path"] == missing.as_str()).unwrap();
    assert_eq!(err["error"]["kind"], "read");
    // `--list FILE` is the same as `@FILE`.
    let out2 = tmp.path().join("list2.jsonl");
    run_ok(batch(&out2).arg("--list").arg(&list));
    assert_eq!(read_records(&out2).0, counts);
}

#[test]
fn resume_after_a_complete_run_does_nothing() {
    let tmp = TempDir::new("resume");
    let input = tmp.path().join("in");
    make_images(&input, 4);
    let out = tmp.path().join("o.jsonl");
    run_ok(batch(&out).arg(&input));
    let before = std::fs::read(&out).unwrap();
    let s = summary(&run_ok(batch(&out).arg(&input).arg("--resume")));
    assert_eq!((s["skipped"].as_u64(), s["processed"].as_u64()), (Some(4), Some(0)));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    // Without --resume an existing output is refused, untouched.
    let o = batch(&out).arg(&input).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn resume_drops_a_torn_last_line_and_redoes_that_input() {
    let tmp = TempDir::new("torn");
    let input = tmp.path().join("in");
    let images = make_images(&input, 5);
    let out = tmp.path().join("o.jsonl");
    run_ok(batch(&out).arg(&input));
    // Cut the file inside its last record, as a kill in the middle of a write would.
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let last = lines[lines.len() - 1];
    let mut f = std::fs::File::create(&out).unwrap();
    for l in &lines[..lines.len() - 1] {
        writeln!(f, "{l}").unwrap();
    }
    f.write_all(&last.as_bytes()[..last.len() / 2]).unwrap();
    drop(f);
    let s = summary(&run_ok(batch(&out).arg(&input).arg("--resume")));
    assert_eq!((s["skipped"].as_u64(), s["processed"].as_u64()), (Some(4), Some(1)));
    let (counts, _) = read_records(&out);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), images.into_iter().collect());
    assert!(counts.values().all(|&c| c == 1));
}

#[test]
fn unwritable_output_is_an_error_at_start() {
    let tmp = TempDir::new("unwritable");
    let input = tmp.path().join("in");
    make_images(&input, 1);
    let file = tmp.path().join("a_file");
    std::fs::write(&file, b"x").unwrap();
    // The repository does not exist either: the output is checked first, before any work.
    let check = |args: &[&std::ffi::OsStr], what: &str| {
        let out = std::process::Command::new(batch_bin())
            .args(["--repository", "/nonexistent/repository", "--progress", "never"])
            .args(args)
            .arg(&input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
        assert!(!stderr.contains("repository"), "the pipeline was built before the output was checked: {stderr}");
    };
    let under_file = file.join("out.jsonl");
    check(&["--output".as_ref(), under_file.as_os_str()], &format!("output folder {}", file.display()));
    let ok_out = tmp.path().join("ok.jsonl");
    let crops = file.join("crops");
    check(&["--output".as_ref(), ok_out.as_os_str(), "--save-crops".as_ref(), crops.as_os_str()], "--save-crops");
    // A read-only folder: only meaningful when not root (root writes anyway).
    let ro = tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), b"").is_ok() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED part of unwritable_output_is_an_error_at_start: the read-only folder case (this user, root, \
             writes to 0555 folders)"
        );
    } else {
        let o = ro.join("out.jsonl");
        check(&["--output".as_ref(), o.as_os_str()], "Permission denied");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}
