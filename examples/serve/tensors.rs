//! Tensor data in the KServe v2 protocol: JSON `data` (flat or nested arrays) and the binary tensor data
//! extension (raw little-endian bytes), both ways, for the element types `clo_pipeline::Tensor` holds.

use std::fmt;

use clo_pipeline::Tensor;
use clo_pipeline::ndarray::{ArrayD, IxDyn};
use clo_pipeline::repository::DataType;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

/// One element type: how it is read from JSON numbers and from bytes, and written back.
pub trait Elem: Copy + Sized + 'static {
    const SIZE: usize;
    fn from_f64(v: f64) -> Option<Self>;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    /// `b` is exactly `SIZE` bytes.
    fn from_le(b: &[u8]) -> Self;
    fn write_le(self, out: &mut Vec<u8>);
}

macro_rules! float_elem {
    ($t:ty, $size:expr, $from:expr) => {
        impl Elem for $t {
            const SIZE: usize = $size;
            fn from_f64(v: f64) -> Option<Self> {
                Some($from(v))
            }
            fn from_i64(v: i64) -> Option<Self> {
                Some($from(v as f64))
            }
            fn from_u64(v: u64) -> Option<Self> {
                Some($from(v as f64))
            }
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; $size];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
float_elem!(f32, 4, |v: f64| v as f32);
float_elem!(f64, 8, |v: f64| v);
float_elem!(half::f16, 2, half::f16::from_f64);

macro_rules! int_elem {
    ($t:ty) => {
        impl Elem for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_f64(v: f64) -> Option<Self> {
                // Integral JSON numbers written as floats (`3.0`) are accepted; `3.5` is not.
                if v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64 { Some(v as $t) } else { None }
            }
            fn from_i64(v: i64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_u64(v: u64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
int_elem!(u8);
int_elem!(i8);
int_elem!(i16);
int_elem!(i32);
int_elem!(i64);

impl Elem for bool {
    const SIZE: usize = 1;
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
    fn from_le(b: &[u8]) -> Self {
        b.first().is_some_and(|&x| x != 0)
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}

/// Pushes every element of a number, a boolean, or a nested array of them, in row-major order.
struct Flatten<'a, T>(&'a mut Vec<T>);

impl<'de, T: Elem> DeserializeSeed<'de> for Flatten<'_, T> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Elem> Visitor<'de> for Flatten<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("numbers (or booleans for BOOL), flat or in nested arrays, that fit the datatype")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push(T::from_f64(v).ok_or_else(|| E::custom(format!("{v} does not fit the datatype")))?);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.push(T::from_i64(v).ok_or_else(|| E::custom(format!("{v} does not fit the datatype")))?);
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.push(T::from_u64(v).ok_or_else(|| E::custom(format!("{v} does not fit the datatype")))?);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push(T::from_bool(v).ok_or_else(|| E::custom(format!("{v} does not fit the datatype")))?);
        Ok(())
    }
}

/// Where an input's elements come from.
pub enum Source<'a> {
    /// The `data` member, still as JSON text.
    Json(&'a str),
    /// `binary_data_size` bytes of the binary section.
    Binary(&'a [u8]),
}

fn decode<T: Elem>(src: &Source, shape: &[usize], count: usize) -> Result<ArrayD<T>, String> {
    let values: Vec<T> = match src {
        Source::Json(text) => {
            let mut v = Vec::with_capacity(count);
            let mut d = serde_json::Deserializer::from_str(text);
            Flatten(&mut v).deserialize(&mut d).map_err(|e| format!("data: {e}"))?;
            d.end().map_err(|e| format!("data: {e}"))?;
            v
        }
        Source::Binary(bytes) => {
            if bytes.len() != count * T::SIZE {
                return Err(format!(
                    "binary_data_size is {} bytes, the shape {shape:?} needs {} ({count} elements of {} bytes)",
                    bytes.len(),
                    count * T::SIZE,
                    T::SIZE
                ));
            }
            bytes.chunks_exact(T::SIZE).map(T::from_le).collect()
        }
    };
    if values.len() != count {
        return Err(format!("data has {} elements, the shape {shape:?} needs {count}", values.len()));
    }
    ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|e| e.to_string())
}

/// Builds a tensor of `datatype` and `shape` from `src`; errors say what is wrong for a 400.
pub fn to_tensor(datatype: DataType, shape: &[usize], src: &Source) -> Result<Tensor, String> {
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("the shape's size overflows")?;
    Ok(match datatype {
        DataType::Fp32 => Tensor::F32(decode(src, shape, count)?),
        DataType::Fp64 => Tensor::F64(decode(src, shape, count)?),
        DataType::Fp16 => Tensor::F16(decode(src, shape, count)?),
        DataType::Uint8 => Tensor::U8(decode(src, shape, count)?),
        DataType::Int8 => Tensor::I8(decode(src, shape, count)?),
        DataType::Int16 => Tensor::I16(decode(src, shape, count)?),
        DataType::Int32 => Tensor::I32(decode(src, shape, count)?),
        DataType::Int64 => Tensor::I64(decode(src, shape, count)?),
        DataType::Bool => Tensor::Bool(decode(src, shape, count)?),
        other => return Err(format!("datatype {} is not supported by this server", other.kserve_name())),
    })
}

/// The tensor's elements as little-endian bytes (the binary tensor data extension).
pub fn to_bytes(t: &Tensor) -> Vec<u8> {
    fn le<T: Elem>(a: &ArrayD<T>) -> Vec<u8> {
        let mut out = Vec::with_capacity(a.len() * T::SIZE);
        a.iter().for_each(|&x| x.write_le(&mut out));
        out
    }
    match t {
        Tensor::F32(a) => le(a),
        Tensor::F64(a) => le(a),
        Tensor::F16(a) => le(a),
        Tensor::U8(a) => le(a),
        Tensor::I8(a) => le(a),
        Tensor::I16(a) => le(a),
        Tensor::I32(a) => le(a),
        Tensor::I64(a) => le(a),
        Tensor::Bool(a) => le(a),
        _ => Vec::new(),
    }
}

/// The tensor's elements as a flat JSON array (row-major), as Triton returns them.
pub fn to_json(t: &Tensor) -> serde_json::Value {
    fn flat<T: serde::Serialize + Copy>(a: &ArrayD<T>) -> serde_json::Value {
        serde_json::to_value(a.iter().copied().collect::<Vec<T>>()).unwrap_or_default()
    }
    match t {
        Tensor::F32(a) => flat(a),
        Tensor::F64(a) => flat(a),
        Tensor::F16(a) => flat(&a.mapv(f32::from)),
        Tensor::U8(a) => flat(a),
        Tensor::I8(a) => flat(a),
        Tensor::I16(a) => flat(a),
        Tensor::I32(a) => flat(a),
        Tensor::I64(a) => flat(a),
        Tensor::Bool(a) => flat(a),
        _ => serde_json::Value::Null,
    }
}
