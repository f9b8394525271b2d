//! `FrameResize::PillowBilinear` against Pillow itself: a frame of another size stretched to 3840x2160 the
//! way a client that uses PIL stretches it (`Image.resize((3840, 2160), Image.BILINEAR)`), byte for byte, on
//! upscaled photographs and a downscaled 8K frame; and Model mode with it feeds the ensemble exactly that.

use std::path::{Path, PathBuf};
use std::process::Command;

use clo_pipeline::stages::resize;
use clo_pipeline::{FrameResize, InputEncoding, Pipeline, StageMode, Tensor};

use crate::common::*;

/// Pillow's resize of `png` to 3840x2160 (raw RGB bytes), or `None` after saying why it is skipped.
fn pillow_resize(png: &Path) -> Option<Vec<u8>> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/python");
    let out =
        std::env::temp_dir().join(format!("clo-pillow-{}-{}.rgb", std::process::id(), png.display().to_string().len()));
    let script = "import sys; from PIL import Image; \
                  Image.open(sys.argv[1]).convert('RGB').resize((3840, 2160), Image.BILINEAR).save(sys.argv[2], 'ppm')";
    let run = Command::new(&py).args(["-c", script]).arg(png).arg(&out).output();
    match run {
        Ok(r) if r.status.success() => {}
        other if std::env::var_os("CI").is_some() => {
            panic!("Pillow is needed under CI (scripts/setup.sh --dev): {other:?}")
        }
        other => {
            skip("frame_resize", &format!("Pillow could not run ({}): {other:?}", py.display()));
            return None;
        }
    }
    // A binary PPM: "P6\n3840 2160\n255\n" then the pixels.
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let header = b"P6\n3840 2160\n255\n";
    assert!(bytes.starts_with(header), "unexpected PPM header");
    Some(bytes[header.len()..].to_vec())
}

/// A deterministic 7680x4320 frame (fine stripes and gradients: a downscale without antialiasing would alias).
fn frame_8k() -> (PathBuf, image::RgbImage) {
    let img = image::RgbImage::from_fn(7680, 4320, |x, y| {
        image::Rgb([((x * 7) % 256) as u8, ((y * 3 + x / 5) % 256) as u8, (((x ^ y) & 0xff) as u8).wrapping_mul(3)])
    });
    let p = std::env::temp_dir().join(format!("clo-8k-{}.png", std::process::id()));
    img.save(&p).unwrap();
    (p, img)
}

fn ours(img: &image::RgbImage) -> Vec<u8> {
    let mut out = vec![0u8; 3840 * 2160 * 3];
    let mut rows = Vec::new();
    resize::cpu::pillow_bilinear(img.as_raw(), img.width(), img.height(), 3840, 2160, &mut rows, &mut out).unwrap();
    out
}

#[test]
fn pillow_bilinear_is_pillow_byte_for_byte() {
    let (p8k, img8k) = frame_8k();
    let mut cases: Vec<(String, PathBuf, image::RgbImage)> =
        ["coffee", "astronaut"].iter().map(|s| (s.to_string(), image_path(&format!("{s}.png")), rgb(s))).collect();
    cases.push(("8k".to_string(), p8k.clone(), img8k));
    for (name, path, img) in &cases {
        let Some(want) = pillow_resize(path) else { break };
        let got = ours(img);
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        let max = got.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
        println!("{name}: {differ} of {} bytes differ from Pillow, max {max} level(s)", got.len());
        assert_eq!(got.len(), want.len());
        assert_eq!(differ, 0, "{name}: {differ} bytes differ from Pillow, max {max} levels");
    }
    let _ = std::fs::remove_file(p8k);
}

#[test]
fn model_mode_with_pillow_bilinear_feeds_the_ensemble_pillows_frame() {
    let p = Pipeline::builder(repository())
        .stage_mode(StageMode::Model)
        .frame_resize(FrameResize::PillowBilinear)
        .build()
        .unwrap();
    assert!(p.report().to_string().contains("stretch      pillow-bilinear"), "{}", p.report());
    let img = rgb("coffee");
    let got = p.infer(&image::DynamicImage::ImageRgb8(img.clone())).unwrap();
    // The same stretch, then the ensemble on named tensors: the same result, bit for bit.
    let stretched = image::RgbImage::from_raw(3840, 2160, ours(&img)).unwrap();
    let out = p
        .run_ensemble([("original_image_3840_2160", Tensor::F32(model_input_in(&stretched, &InputEncoding::RGB)))])
        .unwrap();
    let oil = out["estimated_oil_pct"].as_f32().unwrap()[[0, 0]];
    assert_eq!(got.oil_pct.to_bits(), oil.to_bits(), "{} vs {oil}", got.oil_pct);
    // And it differs from the default stretch (upscaling: only by the u8 rounding, but measurably).
    let default = Pipeline::builder(repository()).stage_mode(StageMode::Model).build().unwrap();
    let d = default.infer(&image::DynamicImage::ImageRgb8(img)).unwrap();
    assert!(max_abs(d.crop.as_slice().unwrap(), got.crop.as_slice().unwrap()) > 0.0);
    assert_eq!("pillow".parse::<FrameResize>().unwrap(), FrameResize::PillowBilinear);
    assert_eq!(
        FrameResize::HalfPixelBilinear.to_string().parse::<FrameResize>().unwrap(),
        FrameResize::HalfPixelBilinear
    );
}
