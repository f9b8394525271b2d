//! What the ensemble input's values mean: the input convention of a deployment.
//!
//! The guide's ensemble takes `original_image_3840_2160`, an f32 `[1, 3, 2160, 3840]` tensor, but never says
//! what its values are. Deployments differ: some clients send the raw 0..255 pixel values, many send RGB / 255
//! in [0, 1], OpenCV-based ones send BGR. The repository's own preprocessing and postprocessing models encode
//! the choice (a `Div(255)` inside, or none; a channel swap, or none). An [`InputEncoding`] states it: for a
//! u8 pixel value `v` of channel `c`, the tensor holds `scale * v + offset` (in `f32`, in that order) in plane
//! `order.plane(c)`.
//!
//! [`PipelineBuilder::input_encoding`](crate::PipelineBuilder::input_encoding) sets it; by default the
//! pipeline settles it at build time from the repository's models ([`InputConvention::Auto`]), and
//! [`Pipeline::report`](crate::Pipeline::report) shows the evidence. Everything that builds the ensemble input
//! from a u8 frame (Model mode, the parity check, the CUDA path, `serve`'s image route) uses the settled
//! encoding, so Model mode feeds exactly what that deployment's Triton clients send.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The order of the colour planes in the ensemble input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ChannelOrder {
    /// Red, green, blue (PIL, torchvision, most Python clients).
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV's `imread`).
    Bgr,
}

impl ChannelOrder {
    /// The plane that channel `c` of an RGB frame (0 = red, 1 = green, 2 = blue) goes to.
    pub const fn plane(self, c: usize) -> usize {
        match self {
            ChannelOrder::Rgb => c,
            ChannelOrder::Bgr => 2 - c,
        }
    }
}

/// What a client puts in the ensemble input for a u8 RGB frame: `scale * v + offset` per value `v`, planes in
/// `order`. [`Display`](fmt::Display) and [`FromStr`] use `rgb`, `rgb/255`, `bgr`, `bgr/255`, or the general
/// `rgb*SCALE+OFFSET` / `bgr*SCALE+OFFSET` (e.g. `rgb*0.0078125-1` for values in [-1, 1]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InputEncoding {
    /// The value of one u8 step (1 for 0..255, 1/255 for [0, 1]).
    pub scale: f32,
    /// Added after scaling.
    pub offset: f32,
    /// The order of the planes.
    pub order: ChannelOrder,
}

impl InputEncoding {
    /// RGB, raw 0..255 values (u8 cast to f32).
    pub const RGB: InputEncoding = InputEncoding { scale: 1.0, offset: 0.0, order: ChannelOrder::Rgb };
    /// RGB / 255: values in [0, 1].
    pub const RGB_UNIT: InputEncoding = InputEncoding { scale: 1.0 / 255.0, offset: 0.0, order: ChannelOrder::Rgb };
    /// BGR, raw 0..255 values (OpenCV's order).
    pub const BGR: InputEncoding = InputEncoding { scale: 1.0, offset: 0.0, order: ChannelOrder::Bgr };
    /// BGR / 255: values in [0, 1].
    pub const BGR_UNIT: InputEncoding = InputEncoding { scale: 1.0 / 255.0, offset: 0.0, order: ChannelOrder::Bgr };
    /// The encodings [`InputConvention::Auto`] tries, in this order.
    pub const CANDIDATES: [InputEncoding; 4] =
        [InputEncoding::RGB, InputEncoding::RGB_UNIT, InputEncoding::BGR, InputEncoding::BGR_UNIT];

    /// The tensor value of u8 value `v`: `scale * v + offset` in `f32`.
    #[inline]
    pub fn value(&self, v: u8) -> f32 {
        self.scale * f32::from(v) + self.offset
    }

    /// Checks that `scale` and `offset` are finite and `scale` is not 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `input_encoding`.
    pub fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.offset.is_finite() && self.scale != 0.0) {
            return Err(Error::InvalidParameter {
                name: "input_encoding",
                message: format!("scale {} and offset {} must be finite, scale non-zero", self.scale, self.offset),
            });
        }
        Ok(())
    }
}

impl fmt::Display for InputEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match self.order {
            ChannelOrder::Rgb => "rgb",
            ChannelOrder::Bgr => "bgr",
        };
        match (self.scale, self.offset) {
            (s, o) if s == 1.0 && o == 0.0 => write!(f, "{order}"),
            (s, o) if s == 1.0 / 255.0 && o == 0.0 => write!(f, "{order}/255"),
            (s, o) if o >= 0.0 => write!(f, "{order}*{s}+{o}"),
            (s, o) => write!(f, "{order}*{s}{o}"),
        }
    }
}

impl FromStr for InputEncoding {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || Error::InvalidParameter {
            name: "input_encoding",
            message: format!("takes rgb, rgb/255, bgr, bgr/255, or rgb*SCALE+OFFSET / bgr*SCALE+OFFSET, not {text:?}"),
        };
        let t = text.trim().to_ascii_lowercase();
        let (order, rest) = if let Some(r) = t.strip_prefix("rgb") {
            (ChannelOrder::Rgb, r)
        } else if let Some(r) = t.strip_prefix("bgr") {
            (ChannelOrder::Bgr, r)
        } else {
            return Err(bad());
        };
        let (scale, offset) = match rest {
            "" => (1.0, 0.0),
            "/255" => (1.0 / 255.0, 0.0),
            r => {
                let r = r.strip_prefix('*').ok_or_else(bad)?;
                // The offset starts at the first sign after the scale's first character (a scale may be
                // written 1e-3, whose exponent sign is not an offset).
                let split = r
                    .char_indices()
                    .skip(1)
                    .find(|&(i, c)| (c == '+' || c == '-') && !r[..i].ends_with(['e', 'E']))
                    .map(|(i, _)| i);
                let (s, o) = match split {
                    Some(i) => (&r[..i], &r[i..]),
                    None => (r, "+0"),
                };
                let s: f32 = s.parse().map_err(|_| bad())?;
                let o: f32 = o.strip_prefix('+').unwrap_or(o).parse().map_err(|_| bad())?;
                (s, o)
            }
        };
        let e = InputEncoding { scale, offset, order };
        e.validate()?;
        Ok(e)
    }
}

/// What [`Error::InputConvention`] says settles it: the builder call and the binaries' flag.
pub const SETTLE_IT: &str = "say what the ensemble input holds: PipelineBuilder::input_encoding(\"rgb/255\".parse()?) \
    (or InputEncoding::RGB, RGB_UNIT, BGR, BGR_UNIT, or `rgb*SCALE+OFFSET`), `--input-encoding rgb/255` for infer, \
    batch and serve; with `--stage-mode model` (StageMode::Model) too when the repository's preprocessing differs \
    from docs/geometry.md";

/// How the pipeline knows the input encoding: settled from the repository's models at build time, or given.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum InputConvention {
    /// Settled at build time: each of [`InputEncoding::CANDIDATES`] feeds the repository's preprocessing model a
    /// probe frame, and the one whose output matches the native letterbox of the same frame is the deployment's
    /// (checked on the postprocessing model too). No match, or several that disagree, fails the build with
    /// [`Error::InputConvention`].
    #[default]
    Auto,
    /// Given by the user (`PipelineBuilder::input_encoding`, `--input-encoding`).
    Fixed(InputEncoding),
}

impl fmt::Display for InputConvention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputConvention::Auto => f.write_str("auto"),
            InputConvention::Fixed(e) => e.fmt(f),
        }
    }
}

impl FromStr for InputConvention {
    type Err = Error;

    /// `auto`, or an [`InputEncoding`] (`rgb`, `rgb/255`, `bgr`, `bgr/255`, `rgb*SCALE+OFFSET`, ...).
    fn from_str(text: &str) -> Result<Self> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(InputConvention::Auto);
        }
        text.parse().map(InputConvention::Fixed)
    }
}

/// One candidate encoding as the build measured it against the native stages.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EncodingCheck {
    /// The candidate.
    pub encoding: InputEncoding,
    /// Max |preprocessing model − native letterbox| on the probe frames, on the letterbox's scale.
    pub letterbox_max_abs: f32,
    /// Max |postprocessing model − native crop| on the probe frames and detections, when it was measured.
    pub crop_max_abs: Option<f32>,
}

impl fmt::Display for EncodingCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<8} letterbox max |model - native| {:.3e}", self.encoding.to_string(), self.letterbox_max_abs)?;
        if let Some(c) = self.crop_max_abs {
            write!(f, ", crop {c:.3e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_through_their_text() {
        for e in InputEncoding::CANDIDATES {
            assert_eq!(e.to_string().parse::<InputEncoding>().unwrap(), e, "{e}");
        }
        let general = InputEncoding { scale: 0.0078125, offset: -1.0, order: ChannelOrder::Bgr };
        assert_eq!(general.to_string(), "bgr*0.0078125-1");
        assert_eq!("bgr*0.0078125-1".parse::<InputEncoding>().unwrap(), general);
        assert_eq!("RGB*1e-3+0.5".parse::<InputEncoding>().unwrap().scale, 1e-3);
        assert_eq!("rgb*2".parse::<InputEncoding>().unwrap(), InputEncoding { scale: 2.0, ..InputEncoding::RGB });
        for bad in ["", "yuv", "rgb/256", "rgb*", "rgb*x", "rgb*0", "rgb*inf"] {
            let e = bad.parse::<InputEncoding>().unwrap_err().to_string();
            assert!(e.contains("input_encoding"), "{bad}: {e}");
        }
    }

    #[test]
    fn values_and_planes() {
        assert_eq!(InputEncoding::RGB.value(255), 255.0);
        assert_eq!(InputEncoding::RGB_UNIT.value(255), 255.0 * (1.0 / 255.0));
        assert_eq!(ChannelOrder::Bgr.plane(0), 2);
        assert_eq!(ChannelOrder::Rgb.plane(0), 0);
    }
}
