//! Decoding untrusted image files and bytes with limits.
//!
//! Frames come from cameras, uploads and folders nobody checked: a file may be truncated, corrupt, of
//! another format than its name says, or a *decompression bomb* (a few bytes whose header claims a huge
//! image). [`decode_image`] and [`decode_image_bytes`] guess the format from the content (not the file
//! name), refuse images wider or taller than [`DecodeOptions`] allows before decoding any pixel, refuse
//! images whose decoded buffer would exceed [`DecodeOptions::max_alloc_bytes`], and turn every failure into
//! [`Error::Image`] with the decoder's error as its source. They never panic on any input.
//!
//! # Example: decode a file, then run the pipeline on it
//! ```no_run
//! # fn main() -> Result<(), clo_pipeline::Error> {
//! use clo_pipeline::{DecodeOptions, Pipeline, decode_image};
//! let pipeline = Pipeline::builder("tests/fixtures/model_repository").build()?;
//! let frame = decode_image("frame.jpg", &DecodeOptions::default())?;
//! let out = pipeline.infer(&frame)?;
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::{Path, PathBuf};

use image::error::{LimitError, LimitErrorKind};
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};

use crate::error::{Error, Result};

/// Limits for [`decode_image`] and [`decode_image_bytes`].
///
/// The defaults admit every frame up to 16384 × 16384 pixels (so 8K, 7680 × 4320, and 16K-wide panoramas)
/// and at most 1 GiB for the decoded pixel buffer: a 16384 × 16384 RGB8 image is 768 MiB, an 8K RGB8 frame
/// 95 MiB, an 8K RGBA 16-bit frame 253 MiB. [`crate::Pipeline::infer`] converts a non-RGB8 image to RGB8,
/// which takes up to another `width × height × 3` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Widest image accepted, in pixels (checked from the header, before decoding).
    pub max_width: u32,
    /// Tallest image accepted, in pixels (checked from the header, before decoding).
    pub max_height: u32,
    /// Largest decoded pixel buffer accepted, in bytes (`width × height × bytes per pixel`, checked from the
    /// header, before decoding; also given to the decoder as its allocation limit).
    pub max_alloc_bytes: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { max_width: 16384, max_height: 16384, max_alloc_bytes: 1 << 30 }
    }
}

impl DecodeOptions {
    /// These limits as `image`'s [`Limits`].
    pub fn limits(&self) -> Limits {
        let mut l = Limits::default();
        l.max_image_width = Some(self.max_width);
        l.max_image_height = Some(self.max_height);
        l.max_alloc = Some(self.max_alloc_bytes);
        l
    }
}

/// Decodes the image file at `path` within `options`' limits. The format comes from the content, never from
/// the file name.
///
/// # Errors
/// [`Error::Image`] naming `path`, for a file that cannot be opened or read, an unknown or unsupported
/// format, corrupt or truncated data, or an image over the limits (the source is then an
/// [`ImageError::Limits`]).
pub fn decode_image(path: impl AsRef<Path>, options: &DecodeOptions) -> Result<DynamicImage> {
    let path = path.as_ref();
    // Not `ImageReader::open`: it takes the format from the file name, and only the content counts here.
    let file = File::open(path).map_err(|e| image_error(Some(path), "cannot open", ImageError::IoError(e)))?;
    decode_reader(ImageReader::new(BufReader::new(file)), Some(path), options)
}

/// Decodes an encoded image held in memory (format guessed from its content) within `options`' limits.
///
/// # Errors
/// As [`decode_image`], with no path.
pub fn decode_image_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<DynamicImage> {
    decode_reader(ImageReader::new(Cursor::new(bytes)), None, options)
}

fn decode_reader<R: BufRead + Seek>(
    reader: ImageReader<R>,
    path: Option<&Path>,
    options: &DecodeOptions,
) -> Result<DynamicImage> {
    let mut reader =
        reader.with_guessed_format().map_err(|e| image_error(path, "cannot read", ImageError::IoError(e)))?;
    if reader.format().is_none() {
        return Err(Error::Image {
            path: path.map(Path::to_path_buf),
            message: "unknown image format (neither JPEG nor PNG by its content)".to_string(),
            source: None,
        });
    }
    reader.limits(options.limits());
    let decoder = reader.into_decoder().map_err(|e| image_error(path, "cannot decode", e))?;
    // Decoders treat `max_alloc` as a hint; the output buffer's size is known from the header, so check it.
    let (w, h) = decoder.dimensions();
    let bytes = decoder.total_bytes();
    if bytes > options.max_alloc_bytes {
        return Err(image_error(
            path,
            &format!(
                "{w}x{h} {:?} needs {bytes} bytes, over the limit of {} bytes (DecodeOptions::max_alloc_bytes)",
                decoder.color_type(),
                options.max_alloc_bytes
            ),
            ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory)),
        ));
    }
    DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, &format!("cannot decode {w}x{h} image"), e))
}

fn image_error(path: Option<&Path>, what: &str, source: ImageError) -> Error {
    Error::Image { path: path.map(PathBuf::from), message: format!("{what}: {source}"), source: Some(source) }
}
