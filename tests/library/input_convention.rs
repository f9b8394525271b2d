//! The input convention (what the ensemble input's values mean) is settled from the repository's own models,
//! never assumed: a wrong explicit encoding is kept but reported (and its frames flagged), a repository whose
//! preprocessing and postprocessing disagree, or that matches no candidate, fails the build with a typed
//! error that lists what was tried and how to settle it.

use crate::common::*;
use clo_pipeline::{Degenerate, Error, InputConvention, InputEncoding, Pipeline, StageMode};

fn repo(name: &str) -> std::path::PathBuf {
    fixtures().join(name)
}

#[test]
fn a_wrong_explicit_encoding_is_kept_reported_and_its_frames_flagged() {
    // The unit repository's clients send RGB/255; this user says raw RGB and forces the models.
    let p = Pipeline::builder(repo("model_repository_unit"))
        .input_encoding(InputEncoding::RGB)
        .stage_mode(StageMode::Model)
        .build()
        .unwrap();
    assert_eq!(p.input_encoding(), InputEncoding::RGB, "an explicit setting is never overridden");
    let r = p.report();
    assert_eq!(r.input.asked, InputConvention::Fixed(InputEncoding::RGB));
    assert!(r.input.note.contains("probably send rgb/255"), "{r}");
    // Every candidate was measured once the given one did not match.
    assert_eq!(r.input.checks.len(), 4, "{r}");
    let out = p.infer(&image::DynamicImage::ImageRgb8(rgb("coffee"))).unwrap();
    assert!(
        matches!(out.degenerate, Some(Degenerate::SaturatedScores { .. } | Degenerate::EveryRowFilled { .. })),
        "a frame fed 255 times too bright must be flagged: {:?}",
        out.degenerate
    );
    // The right one gives a normal frame.
    let ok = Pipeline::builder(repo("model_repository_unit")).stage_mode(StageMode::Model).build().unwrap();
    assert_eq!(ok.infer(&image::DynamicImage::ImageRgb8(rgb("coffee"))).unwrap().degenerate, None);
}

#[test]
fn preprocessing_and_postprocessing_that_disagree_fail_the_build() {
    // The unit repository's preprocessing (clients send RGB/255) with the raw repository's postprocessing
    // (clients send 0..255): no client can satisfy both.
    let t = TempRepo::new();
    std::fs::copy(
        repo("model_repository_unit").join("preprocessing/1/model.onnx"),
        t.path.join("preprocessing/1/model.onnx"),
    )
    .unwrap();
    match Pipeline::builder(&t.path).build() {
        Err(e @ Error::InputConvention { .. }) => {
            let text = e.to_string();
            let Error::InputConvention { message, checks, tensor, .. } = e else { unreachable!() };
            assert!(message.contains("disagree"), "{message}");
            assert!(message.contains("rgb/255") && message.contains("rgb"), "{message}");
            assert_eq!(tensor, "original_image_3840_2160");
            assert_eq!(checks.len(), 4);
            assert!(text.contains("input_encoding") && text.contains("--input-encoding"), "{text}");
        }
        other => panic!("expected Error::InputConvention, got {other:?}"),
    }
}

#[test]
fn no_matching_candidate_fails_the_build_with_what_was_tried_and_the_fix() {
    // A native letterbox that pads with 0 where the repository's model pads with 114/255: no encoding makes
    // them match, so the build cannot tell what the input holds.
    let err = Pipeline::builder(repository()).pad_value(0.0).build().unwrap_err();
    let text = err.to_string();
    match &err {
        Error::InputConvention { checks, .. } => {
            let tried: Vec<String> = checks.iter().map(|c| c.encoding.to_string()).collect();
            assert_eq!(tried, ["rgb", "rgb/255", "bgr", "bgr/255"]);
            assert!(checks.iter().all(|c| c.letterbox_max_abs > 0.1), "{text}");
        }
        other => panic!("expected Error::InputConvention, got {other:?}"),
    }
    for want in ["could not be settled", "tried", "rgb/255", "settle it", "--input-encoding", "--stage-mode model"] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    // Settling it as the error says builds, and the measurement stays visible in the report.
    let p = Pipeline::builder(repository())
        .pad_value(0.0)
        .input_encoding(InputEncoding::RGB)
        .stage_mode(StageMode::Model)
        .build()
        .unwrap();
    assert_eq!(p.input_encoding(), InputEncoding::RGB);
    assert!(p.report().input.checks[0].letterbox_max_abs > 0.1, "{}", p.report());
}

#[test]
fn the_report_says_every_decision() {
    let p = Pipeline::builder(repo("model_repository_bgr")).build().unwrap();
    let text = p.report().to_string();
    for want in [
        "ensemble     ensemble",
        "device       cpu",
        "input        bgr (asked: auto; settled from the repository's models: bgr matched)",
        "preprocess   native (auto: the native stage matches",
        "postprocess  native (auto: the native stage matches",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    // The encodings parse back from what the report and the flags show.
    for c in &p.report().input.checks {
        assert_eq!(c.encoding.to_string().parse::<InputEncoding>().unwrap(), c.encoding);
    }
    assert_eq!("auto".parse::<InputConvention>().unwrap(), InputConvention::Auto);
    assert_eq!("bgr/255".parse::<InputConvention>().unwrap(), InputConvention::Fixed(InputEncoding::BGR_UNIT));
}
