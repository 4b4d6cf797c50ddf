"""The ONNX op types that compute on quantized data, in one place: the exporters' fusion count and
already-quantized check and the per-layer profile's precision all read them from here.

Standard ONNX ops and onnxruntime's contrib ops (com.microsoft) alike; the names are those of a saved or
optimised graph.
"""
from __future__ import annotations

# integer kernels of the weight layers: what "ran as an integer kernel" counts (exporters' fusion report)
INTEGER_COMPUTE_OPS = frozenset({
    "QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
    "QGemm", "QAttention", "DynamicQuantizeLSTM", "QLinearConvTranspose"})
# integer kernels of the element-wise, pooling and data ops onnxruntime fuses a Q/DQ group into
INTEGER_OTHER_OPS = frozenset({
    "QLinearAdd", "QLinearMul", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearSoftmax", "QLinearReduceMean", "QLinearWhere"})
INTEGER_KERNELS = INTEGER_COMPUTE_OPS | INTEGER_OTHER_OPS
# conversions between float and integer data
QDQ_CONVERSIONS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
# weight-only low-bit and block formats
LOW_BIT_OPS = frozenset({"MatMulNBits", "MatMulBnb4", "GatherBlockQuantized", "DequantizeBFP", "QuantizeBFP"})
# ops that only appear in a graph somebody quantized
QUANTIZED_OPS = INTEGER_KERNELS | QDQ_CONVERSIONS | LOW_BIT_OPS | frozenset({"QEmbedLayerNormalization",
                                                                             "QOrderedMatMul"})
