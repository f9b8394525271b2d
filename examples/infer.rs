//! One image in, the CLO pipeline's result out.
//!
//! ```text
//! cargo run --example infer -- [--repository DIR] [--json] [--save-crop FILE.png] [--stage-mode auto|model|native] IMAGE
//! ```
//!
//! `infer --help` lists every option. The image is decoded by its content (a PNG named `.jpg` decodes), with
//! the library's limits against decompression bombs. Library warnings (a fallback, a mismatch) are shown on
//! stderr; `RUST_LOG=clo_pipeline=info` shows every decision.
#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clo_pipeline::{DecodeOptions, FrameResize, InputConvention, Pipeline, StageMode, decode_image};

/// Runs the CLO pipeline (preprocessing → yolov8 → postprocessing → efficientnet_v2) of a Triton model
/// repository on one image and prints the result.
#[derive(Parser, Debug)]
#[command(
    name = "infer",
    version,
    after_help = "Environment: ORT_DYLIB_PATH (libonnxruntime.so to load), \
RUST_LOG (log filter, default warn), CLO_INFER_IMAGE (the image when none is given)."
)]
struct Args {
    /// The image to run on (JPEG or PNG, recognised by its content).
    #[arg(value_name = "IMAGE", env = "CLO_INFER_IMAGE")]
    image: PathBuf,
    /// The Triton model repository (a folder of <model>/config.pbtxt and <model>/<version>/model.onnx).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "tests/fixtures/model_repository",
        visible_alias = "model-repository"
    )]
    repository: PathBuf,
    /// Print the result as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Save the 384×384 crop the estimator saw as a PNG.
    #[arg(long, value_name = "FILE.png")]
    save_crop: Option<PathBuf>,
    /// How preprocessing and postprocessing run: `model` (the repository's ONNX models, as Triton), `native`
    /// (the crate's stages on the u8 frame) or `auto` (native where it matches the models at build time).
    #[arg(long, value_name = "MODE", default_value_t = StageMode::Auto)]
    stage_mode: StageMode,
    /// What the ensemble input holds for this deployment's clients: `auto` (settled from the repository's
    /// models), `rgb` (0..255), `rgb/255` ([0, 1]), `bgr`, `bgr/255`, or `rgb*SCALE+OFFSET`.
    #[arg(long, value_name = "ENCODING", default_value_t = InputConvention::Auto)]
    input_encoding: InputConvention,
    /// How Model mode stretches a frame that is not 3840x2160, as this deployment's clients do:
    /// `half-pixel-bilinear` (OpenCV's INTER_LINEAR, ONNX Resize) or `pillow-bilinear` (PIL's BILINEAR).
    #[arg(long, value_name = "HOW", default_value_t = FrameResize::HalfPixelBilinear)]
    frame_resize: FrameResize,
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let pipeline = Pipeline::builder(&args.repository)
        .stage_mode(args.stage_mode)
        .input_convention(args.input_encoding)
        .frame_resize(args.frame_resize)
        .build()?;
    let img = decode_image(&args.image, &DecodeOptions::default())?;
    let out = pipeline.infer(&img)?;
    if let Some(path) = &args.save_crop {
        out.crop_image(pipeline.geometry().scale)
            .save(path)
            .map_err(|e| format!("--save-crop {}: {e}", path.display()))?;
    }
    let (mw, mh) = pipeline.geometry().model_input;
    let resized = out.frame_size != (mw, mh);
    if args.json {
        // `Inference` serialises with the crate's `serde` feature (on by default); the crop tensor is left out.
        let mut v = serde_json::to_value(&out)?;
        v["image"] = serde_json::Value::from(args.image.display().to_string());
        v["device"] = serde_json::Value::from(pipeline.device().device.to_string());
        v["input_encoding"] = serde_json::Value::from(pipeline.input_encoding().to_string());
        println!("{v}");
        return Ok(());
    }
    println!("repository  {}", args.repository.display());
    println!("{}", support::indent(&pipeline.report().to_string(), "  "));
    println!("image       {} ({}x{})", args.image.display(), out.frame_size.0, out.frame_size.1);
    if resized {
        let (a, b) = out.modes;
        if a == StageMode::Model || b == StageMode::Model {
            println!(
                "            not {mw}x{mh}: the model stages see it stretched to {mw}x{mh}, as a Triton client \
                 would send it (aspect ratio lost); native stages keep its aspect ratio, so the modes differ"
            );
        } else {
            println!(
                "            not {mw}x{mh}: the native stages letterbox it at its own size (aspect kept); \
                 `--stage-mode model` stretches it to {mw}x{mh} first, as a Triton client would, and differs"
            );
        }
    }
    println!("oil         {:.2} %", out.oil_pct);
    if let Some(d) = &out.degenerate {
        println!("WARNING     {d}: do not trust this oil %");
    }
    match out.best_detection() {
        Some(d) => println!(
            "best box    [{:.1}, {:.1}, {:.1}, {:.1}] score {:.3} class {}",
            d.bbox[0],
            d.bbox[1],
            d.bbox[2],
            d.bbox[3],
            d.score,
            class(d.class)
        ),
        None => println!("best box    none above the threshold: the whole frame was cropped"),
    }
    println!("detections  {}", out.detections.len());
    for d in out.detections.iter().take(5) {
        println!(
            "  row {:3}  [{:7.1}, {:7.1}, {:7.1}, {:7.1}]  score {:.3}  class {}",
            d.row,
            d.bbox[0],
            d.bbox[1],
            d.bbox[2],
            d.bbox[3],
            d.score,
            class(d.class)
        );
    }
    let t = &out.timings;
    println!(
        "timings ms  preprocess {:.2}  detect {:.2}  postprocess {:.2}  estimate {:.2}  total {:.2}",
        ms(t.preprocess),
        ms(t.detect),
        ms(t.postprocess),
        ms(t.estimate),
        ms(t.total)
    );
    if let Some(p) = &args.save_crop {
        println!("crop        saved to {}", p.display());
    }
    Ok(())
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> ExitCode {
    support::init_tracing();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("infer: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A detection's class for people: its index, or `-` when the detector's value is not one.
fn class(c: Option<u32>) -> String {
    c.map_or_else(|| "-".to_owned(), |c| c.to_string())
}
