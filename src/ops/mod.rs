//! Native image stages: the shared geometry and the CPU (rayon) implementation.
//!
//! [`geometry`] is `docs/geometry.md` as pure `f32` arithmetic (no allocation, no I/O); the CUDA kernels
//! mirror its coordinate helpers line for line. [`cpu`] runs the three image stages on the CPU, writing into
//! caller-provided tensors:
//!
//! - [`cpu::letterbox`]: `u8` RGB frame → `f32` NCHW `T × T` letterbox (YOLO input);
//! - [`cpu::crop_resize`]: `u8` RGB frame + [`CropBox`] → `f32` NCHW `S × S` crop (EfficientNet input);
//! - [`cpu::resize_to_nchw`]: `u8` RGB frame → `f32` NCHW frame of any size (Model mode's
//!   `original_image_3840_2160`).
//!
//! # Example: from a frame to the crop
//! ```
//! use clo_pipeline::ops::{Geometry, cpu, select_crop};
//! let g = Geometry::default();
//! let (w, h) = (64_u32, 36_u32);
//! let frame = vec![128_u8; (w * h * 3) as usize];
//! let side = g.letterbox as usize;
//! let mut yolo_input = vec![0.0_f32; 3 * side * side];
//! let lb = cpu::letterbox(&frame, w, h, &g, &mut yolo_input)?;
//! // ... run the detector on `yolo_input`; here no row passes the threshold ...
//! let detections = [0.0_f32; 300 * 6];
//! let (best, crop) = select_crop(&detections, g.score_threshold, &lb);
//! assert_eq!(best, None);
//! let s = g.crop as usize;
//! let mut crop_input = vec![0.0_f32; 3 * s * s];
//! cpu::crop_resize(&frame, w, h, &crop, g.crop, g.scale, &mut crop_input)?;
//! assert!((crop_input[0] - 128.0 / 255.0).abs() < 1e-6);
//! # Ok::<(), clo_pipeline::Error>(())
//! ```

pub mod cpu;
pub mod geometry;

pub use geometry::{
    AxisTap, CropBox, DETECTION_ROW, Geometry, Letterbox, MAX_SIDE, best_detection, bilinear, crop_box, crop_source,
    detection_row, half_pixel_source, select_crop,
};
