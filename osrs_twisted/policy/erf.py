"""The error function in numpy, for the exact (erf) GELU without torch.

numpy has no ``erf``, and the CPU path must not import torch (hundreds of
megabytes, seconds of start-up) just for one activation. These are
W. J. Cody's rational Chebyshev approximations (Math. Comp. 23, 1969),
evaluated in float64: about 1e-16 relative error, far below the float32
rounding of the activations they feed.
"""

from __future__ import annotations

import numpy as np

# erf(x) = x * P(x²) / Q(x²) for |x| <= 0.46875.
_SMALL_P = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
            1.85777706184603153e-1)
_SMALL_Q = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
# erfc(y) * exp(y²) = P(y) / Q(y) for 0.46875 < y <= 4.
_MID_P = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
          8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
          2.15311535474403846e-8)
_MID_Q = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
          3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
# erfc(y) * exp(y²) * y = 1/√π - z * P(z) / Q(z), z = 1/y², for y > 4.
_TAIL_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
           6.58749161529837803e-4, 1.63153871373020978e-2)
_TAIL_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
           2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1
_SMALL = 0.46875
_MID = 4.0
#: erfc of anything larger underflows float64; capping keeps inf from making NaN.
_CAP = 27.0
#: Elements per block (64 KiB of float64).
_BLOCK = 8192


def _ratio(p: tuple[float, ...], q: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """``P(x) / Q(x)`` in Cody's nested form: ``p[-1]`` is P's leading
    coefficient and ``Q`` is monic; the other entries run from high powers down."""
    steps = len(q) - 1
    numerator = p[-1] * x
    denominator = x.copy()
    for index in range(steps):
        numerator += p[index]
        numerator *= x
        denominator += q[index]
        denominator *= x
    numerator += p[steps]
    denominator += q[steps]
    numerator /= denominator
    return numerator


def _erfc_scaled(y: np.ndarray) -> np.ndarray:
    """``erfc(y) * exp(y²)`` for ``y >= 0.46875``."""
    mid = _ratio(_MID_P, _MID_Q, np.clip(y, _SMALL, _MID))
    tail = np.clip(y, _MID, _CAP)
    z = 1.0 / (tail * tail)
    tail_scaled = (_INV_SQRT_PI - z * _ratio(_TAIL_P, _TAIL_Q, z)) / tail
    return np.where(y <= _MID, mid, tail_scaled)


def _erf_block(x: np.ndarray) -> np.ndarray:
    """``erf`` of a float64 block. Every interval's formula runs on the whole
    block (clipped into its interval) and ``np.where`` picks: cheaper than
    gathering and scattering by boolean masks."""
    y = np.abs(x)
    inner = np.clip(x, -_SMALL, _SMALL)
    small = inner * _ratio(_SMALL_P, _SMALL_Q, inner * inner)
    capped = np.clip(y, _SMALL, _CAP)
    # exp(-y²) in two factors, as Cody does, so its rounding does not grow with y.
    rounded = np.trunc(capped * 16.0) / 16.0
    decay = np.exp(-rounded * rounded) * np.exp(-(capped - rounded) * (capped + rounded))
    large = np.copysign(1.0 - decay * _erfc_scaled(capped), x)
    result: np.ndarray = np.where(y <= _SMALL, small, large)
    return result


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, element-wise, as float64 (NaN stays NaN).

    Works in blocks that stay in the CPU cache: the ~100 array operations per
    element then cost half what they cost over one large array.
    """
    wide = np.asarray(x, dtype=np.float64)
    flat = wide.reshape(-1)
    result = np.empty_like(flat)
    with np.errstate(under="ignore"):
        for start in range(0, flat.size, _BLOCK):
            result[start : start + _BLOCK] = _erf_block(flat[start : start + _BLOCK])
    return result.reshape(wide.shape)
