//! Named tensors as the ensemble takes and returns them (Triton's tensors, in host memory).

use ndarray::ArrayD;
use ort::value::{DynValue, TensorElementType};

use crate::error::{Error, Result};
use crate::repository::DataType;

/// A dense tensor of one of the element types Triton's ONNX Runtime backend accepts.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Tensor {
    /// `TYPE_FP32`
    F32(ArrayD<f32>),
    /// `TYPE_FP16`
    F16(ArrayD<half::f16>),
    /// `TYPE_FP64`
    F64(ArrayD<f64>),
    /// `TYPE_UINT8`
    U8(ArrayD<u8>),
    /// `TYPE_INT8`
    I8(ArrayD<i8>),
    /// `TYPE_INT16`
    I16(ArrayD<i16>),
    /// `TYPE_INT32`
    I32(ArrayD<i32>),
    /// `TYPE_INT64`
    I64(ArrayD<i64>),
    /// `TYPE_BOOL`
    Bool(ArrayD<bool>),
}

macro_rules! each_variant {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            Tensor::F32($a) => $body,
            Tensor::F16($a) => $body,
            Tensor::F64($a) => $body,
            Tensor::U8($a) => $body,
            Tensor::I8($a) => $body,
            Tensor::I16($a) => $body,
            Tensor::I32($a) => $body,
            Tensor::I64($a) => $body,
            Tensor::Bool($a) => $body,
        }
    };
}

impl Tensor {
    /// The element type, as Triton names it.
    pub fn data_type(&self) -> DataType {
        match self {
            Tensor::F32(_) => DataType::Fp32,
            Tensor::F16(_) => DataType::Fp16,
            Tensor::F64(_) => DataType::Fp64,
            Tensor::U8(_) => DataType::Uint8,
            Tensor::I8(_) => DataType::Int8,
            Tensor::I16(_) => DataType::Int16,
            Tensor::I32(_) => DataType::Int32,
            Tensor::I64(_) => DataType::Int64,
            Tensor::Bool(_) => DataType::Bool,
        }
    }

    /// The shape.
    pub fn shape(&self) -> Vec<i64> {
        each_variant!(self, a => a.shape().iter().map(|&d| d as i64).collect())
    }

    /// The f32 array, if this is an `F32` tensor.
    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Some(a),
            _ => None,
        }
    }

    /// Moves this tensor into an ONNX Runtime value (no copy for contiguous arrays).
    pub(crate) fn into_value(self, model: &str) -> Result<DynValue> {
        each_variant!(self, a => Ok(ort::value::Tensor::from_array(a).map_err(|e| Error::ort(model, e))?.into_dyn()))
    }

    /// Copies an ONNX Runtime output into a host tensor.
    pub(crate) fn from_value(model: &str, tensor: &str, v: &DynValue) -> Result<Tensor> {
        let wrap = |e| Error::ort(model, e);
        let ty = v.dtype().tensor_type();
        Ok(match ty {
            Some(TensorElementType::Float32) => Tensor::F32(v.try_extract_array::<f32>().map_err(wrap)?.to_owned()),
            Some(TensorElementType::Float16) => {
                Tensor::F16(v.try_extract_array::<half::f16>().map_err(wrap)?.to_owned())
            }
            Some(TensorElementType::Float64) => Tensor::F64(v.try_extract_array::<f64>().map_err(wrap)?.to_owned()),
            Some(TensorElementType::Uint8) => Tensor::U8(v.try_extract_array::<u8>().map_err(wrap)?.to_owned()),
            Some(TensorElementType::Int8) => Tensor::I8(v.try_extract_array::<i8>().map_err(wrap)?.to_owned()),
            Some(TensorElementType::Int16) => Tensor::I16(v.try_extract_array::<i16>().map_err(wrap)?.to_owned()),
            Some(TensorElementType::Int32) => Tensor::I32(v.try_extract_array::<i32>().map_err(wrap)?.to_owned()),
            Some(TensorElementType::Int64) => Tensor::I64(v.try_extract_array::<i64>().map_err(wrap)?.to_owned()),
            Some(TensorElementType::Bool) => Tensor::Bool(v.try_extract_array::<bool>().map_err(wrap)?.to_owned()),
            other => {
                return Err(Error::Tensor {
                    model: model.to_string(),
                    tensor: tensor.to_string(),
                    expected: "a tensor of a supported element type".to_string(),
                    found: format!("{other:?}"),
                });
            }
        })
    }
}

/// A host `f32` slice as an ONNX Runtime input of `shape`, without a copy (errors name `model`).
pub(crate) fn view<'a, const N: usize>(
    model: &str,
    data: &'a [f32],
    shape: [usize; N],
) -> Result<ort::session::SessionInputValue<'a>> {
    Ok(ort::value::TensorRef::from_array_view((shape, data)).map_err(|e| Error::ort(model, e))?.into_dyn().into())
}

/// Maps ONNX Runtime's element type to Triton's data type.
pub(crate) fn data_type_of(t: TensorElementType) -> Option<DataType> {
    Some(match t {
        TensorElementType::Float32 => DataType::Fp32,
        TensorElementType::Float16 => DataType::Fp16,
        TensorElementType::Float64 => DataType::Fp64,
        TensorElementType::Bfloat16 => DataType::Bf16,
        TensorElementType::Uint8 => DataType::Uint8,
        TensorElementType::Uint16 => DataType::Uint16,
        TensorElementType::Uint32 => DataType::Uint32,
        TensorElementType::Uint64 => DataType::Uint64,
        TensorElementType::Int8 => DataType::Int8,
        TensorElementType::Int16 => DataType::Int16,
        TensorElementType::Int32 => DataType::Int32,
        TensorElementType::Int64 => DataType::Int64,
        TensorElementType::Bool => DataType::Bool,
        TensorElementType::String => DataType::String,
        _ => return None,
    })
}
