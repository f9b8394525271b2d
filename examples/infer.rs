//! One image in, the CLO pipeline's result out.
//!
//! ```text
//! cargo run --example infer -- [--repository DIR] [--json] [--save-crop FILE] [--stage-mode auto|model|native] IMAGE
//! ```
use std::path::PathBuf;
use std::process::ExitCode;

use clo_pipeline::{Pipeline, StageMode};

struct Args {
    repository: PathBuf,
    image: PathBuf,
    json: bool,
    save_crop: Option<PathBuf>,
    mode: StageMode,
}

const USAGE: &str =
    "usage: infer [--repository DIR] [--json] [--save-crop FILE.png] [--stage-mode auto|model|native] IMAGE";

fn parse_args() -> Result<Args, String> {
    let mut repository = PathBuf::from("tests/fixtures/model_repository");
    let mut image = None;
    let mut json = false;
    let mut save_crop = None;
    let mut mode = StageMode::Auto;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repository" => repository = it.next().ok_or("--repository needs a folder")?.into(),
            "--json" => json = true,
            "--save-crop" => save_crop = Some(it.next().ok_or("--save-crop needs a file")?.into()),
            "--stage-mode" => {
                mode = match it.next().as_deref() {
                    Some("auto") => StageMode::Auto,
                    Some("model") => StageMode::Model,
                    Some("native") => StageMode::Native,
                    other => return Err(format!("--stage-mode takes auto, model or native, not {other:?}")),
                }
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            _ if image.is_none() => image = Some(PathBuf::from(a)),
            _ => return Err(format!("one image only\n{USAGE}")),
        }
    }
    Ok(Args { repository, image: image.ok_or(USAGE)?, json, save_crop, mode })
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let pipeline = Pipeline::builder(&args.repository).stage_mode(args.mode).build()?;
    let img = image::open(&args.image).map_err(|e| format!("{}: {e}", args.image.display()))?;
    let out = pipeline.infer(&img)?;
    if let Some(path) = &args.save_crop {
        out.crop_image(pipeline.geometry().scale).save(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if args.json {
        // `Inference` serialises with the crate's `serde` feature (on by default); the crop tensor is left out.
        let mut v = serde_json::to_value(&out)?;
        v["image"] = serde_json::Value::from(args.image.display().to_string());
        println!("{v}");
    } else {
        println!("image       {} ({}x{})", args.image.display(), out.frame_size.0, out.frame_size.1);
        println!("oil         {:.2} %", out.oil_pct);
        println!("stages      preprocess {:?}, postprocess {:?}", out.modes.0, out.modes.1);
        match out.best_detection() {
            Some(d) => println!(
                "best box    [{:.1}, {:.1}, {:.1}, {:.1}] score {:.3} class {}",
                d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3], d.score, d.class
            ),
            None => println!("best box    none above the threshold: the whole frame was cropped"),
        }
        println!("detections  {}", out.detections.len());
        for d in out.detections.iter().take(5) {
            println!(
                "  row {:3}  [{:7.1}, {:7.1}, {:7.1}, {:7.1}]  score {:.3}  class {}",
                d.row, d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3], d.score, d.class
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
    }
    Ok(())
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
