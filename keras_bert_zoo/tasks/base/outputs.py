"""Numpy outputs of ``predict`` on raw inputs: batches joined, values made JSON-ready."""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["concat_batches", "jsonable"]


def concat_batches(outs: list, padding: Mapping) -> dict:
    """``[{name: array [b, ...]}]`` -> ``{name: array [N, ...]}``; a ``[b, E, ...]`` output whose width ``E``
    differs between batches is padded to the widest with ``padding[name]`` (default: ``b""`` / 0)."""
    result = {}
    for key in outs[0]:
        arrays = [o[key] for o in outs]
        if arrays[0].ndim >= 2 and len({a.shape[1:] for a in arrays}) > 1:
            width = max(a.shape[1] for a in arrays)
            pad = padding.get(key, b"" if arrays[0].dtype.kind in "SO" else 0)
            arrays = [np.concatenate([a, np.full((a.shape[0], width - a.shape[1]) + a.shape[2:], pad, a.dtype)],
                                     axis=1) if a.shape[1] < width else a for a in arrays]
        result[key] = np.concatenate(arrays, axis=0)
    return result


def jsonable(value):
    """A numpy value (array, bytes, scalar) as plain Python for ``json.dumps``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [jsonable(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
