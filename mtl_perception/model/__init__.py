"""Pure-torch model library: the compact multitask net, its training forms and exact collapse."""
from .blocks import ExpandConv, RepVGGConv, SVDBasis, SVDConv
from .complexity import count_macs, count_parameters
from .layers import ConvGeometry, ConvUnit
from .network import ARCHITECTURES, BASE_CHANNELS, DECODERS, TASKS, MultiTaskNet, NetConfig
from .overparam import (
    ALTERNATING_SCHEMES,
    SCHEMES,
    SVD_INITS,
    ParameterPartition,
    collapse,
    overparameterize,
    partition_parameters,
    set_folded_forward,
)
from .transforms import fold_svd_factors, fuse_conv_bn, pad_kernel, svd_factorize

__all__ = [
    "ALTERNATING_SCHEMES",
    "ARCHITECTURES",
    "DECODERS",
    "SCHEMES",
    "SVD_INITS",
    "TASKS",
    "BASE_CHANNELS",
    "ConvGeometry",
    "ConvUnit",
    "ExpandConv",
    "MultiTaskNet",
    "NetConfig",
    "ParameterPartition",
    "RepVGGConv",
    "SVDBasis",
    "SVDConv",
    "collapse",
    "count_macs",
    "count_parameters",
    "fold_svd_factors",
    "fuse_conv_bn",
    "overparameterize",
    "pad_kernel",
    "partition_parameters",
    "set_folded_forward",
    "svd_factorize",
]
