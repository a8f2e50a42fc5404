"""Exponentials that Numba's loops vectorise: ``exp(x)`` in float64 and float32, within 1 ulp.

Numba calls the C library's scalar ``exp`` for ``np.exp`` (PyPI's llvmlite carries no SVML), so a
loop that takes exponentials runs one value at a time. :func:`exp` (float64) and :func:`exp32`
(float32) are written with nothing but arithmetic, comparisons and a bit cast, so LLVM turns a
loop over an array into vector instructions (8 or 16 values per AVX-512 instruction; compile the
loop with ``fastmath={"contract"}`` so that the polynomial's steps become fused multiply-adds) and
a kernel can take its exponentials inside
the pass that also shifts, sums and scales them (the Gaussian mixture's E-step:
:mod:`emkit.kernels.gaussian_mixture_estep`).

Method (as fdlibm's): ``x = m ln 2 + r`` with ``m = round(x / ln 2)`` and ``|r| ≤ ½ ln 2``, the
product ``m ln 2`` split Cody–Waite style (``ln 2 = L_hi + L_lo``, ``L_hi`` with 21 trailing zero
bits, so ``m L_hi`` is exact and ``x − m L_hi`` too); ``exp(r) = 1 + r + r² P(r)`` with ``P`` the
Taylor polynomial of degree 11 (truncation ``r¹⁴/14! < 5·10⁻¹⁸``, below 2⁻⁵⁷ relative); and
``2^m = 2^⌊m/2⌋ · 2^(m − ⌊m/2⌋)``, two powers of two made from their bits, so that results in the
subnormal range are rounded once (by the last product) and no exponent field overflows.

Error bound (:data:`ULP_BOUND`): within 1 ulp of the exact value for every float64 ``x`` (the
tests check ~10⁶ arguments, uniform over the whole range and concentrated on
``[−40, 0]`` where the E-step takes them, against NumPy's ``exp`` and, for the mean bias, against
``math.exp``: the largest error seen is below 1 ulp, about 0.5 ulp being the correctly rounded
result's own). Special values as the C library: ``exp(−inf) = 0``, ``exp(x) = 0`` for
``x < −745.14`` (below half the smallest subnormal), subnormal results for ``−745.14 < x <
−708.4``, ``exp(inf) = inf`` and ``inf`` beyond 709.78, ``exp(NaN) = NaN``; no floating-point
exception is reported (Numba does not report them).

:func:`exp32` is the same in float32 arithmetic, with Cephes' ``expf`` polynomial of degree 7
(``L_hi = 0.693359375``): within 1 ulp (float32) of the exact value, where NumPy's float32 ``exp``
is within 2.4 ulp; 0 below −103.98, inf above 88.73. :func:`exp_of` picks one by the argument's type.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

#: Largest error of :func:`exp`, in units in the last place of the exact result (checked by the tests).
ULP_BOUND = 1.0

_LOG2E = 1.4426950408889634                 # 1 / ln 2
_LN2_HI = 6.93147180369123816490e-01        # 0x3fe62e42fee00000: 21 trailing zero bits
_LN2_LO = 1.90821492927058770002e-10        # ln 2 − L_hi
_ROUNDER = 6755399441055744.0               # 1.5·2⁵²: x + it − it rounds x to an integer (ties to even)
#: Arguments are clipped into this range first: below it every result rounds to 0, above it to inf,
#: and within it ``m`` stays within ±1077 (both halves of ``2^m`` are normal numbers).
_LOWEST = -746.0
_HIGHEST = 710.0
#: Taylor coefficients ``1/j!`` of ``P(r) = (exp(r) − 1 − r)/r²``, highest degree first.
_C13 = 1.0 / 6227020800.0
_C12 = 1.0 / 479001600.0
_C11 = 1.0 / 39916800.0
_C10 = 1.0 / 3628800.0
_C9 = 1.0 / 362880.0
_C8 = 1.0 / 40320.0
_C7 = 1.0 / 5040.0
_C6 = 1.0 / 720.0
_C5 = 1.0 / 120.0
_C4 = 1.0 / 24.0
_C3 = 1.0 / 6.0
_C2 = 0.5


_F = np.float32
_LOG2E_32 = _F(_LOG2E)
_LN2_HI_32 = _F(0.693359375)                # 355/512: m·L_hi exact for |m| < 2¹⁵
_LN2_LO_32 = _F(-2.12194440e-4)
_ROUNDER_32 = _F(12582912.0)                # 1.5·2²³
_LOWEST_32 = _F(-104.0)
_HIGHEST_32 = _F(89.0)
_ONE_32 = _F(1.0)
#: Cephes' ``expf`` coefficients of ``(exp(r) − 1 − r)/r²``, highest degree first.
_P32 = (_F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3), _F(4.1665795894e-2), _F(1.6666665459e-1),
        _F(5.0000001201e-1))


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float whose bit pattern is ``bits`` (float64 from int64, float32 from int32): an LLVM
    bit cast, which vectorises."""
    if bits == types.int64:
        return types.float64(types.int64), lambda context, builder, signature, args: builder.bitcast(
            args[0], ir.DoubleType())
    if bits == types.int32:
        return types.float32(types.int32), lambda context, builder, signature, args: builder.bitcast(
            args[0], ir.FloatType())
    return None


@njit(cache=True, nogil=True, inline="always")
def power_of_two(m):  # pragma: no cover - compiled
    """``2^m`` for an integer ``m`` in ``[−1022, 1023]`` (int64), from its exponent bits."""
    return _float_from_bits((m + 1023) << 52)


@njit(cache=True, nogil=True, inline="always")
def exp(x):  # pragma: no cover - compiled
    """``exp(x)`` of a float64 to within :data:`ULP_BOUND` ulp, branch-free (see the module)."""
    clipped = min(max(x, _LOWEST), _HIGHEST)
    m = (clipped * _LOG2E + _ROUNDER) - _ROUNDER
    r = (clipped - m * _LN2_HI) - m * _LN2_LO
    p = _C13
    p = p * r + _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    value = 1.0 + (r + (r * r) * p)
    whole = np.int64(m)
    half = whole >> 1
    result = value * power_of_two(half) * power_of_two(whole - half)
    return result if x == x else x   # NaN stays NaN (min/max would drop it)


@njit(cache=True, nogil=True, inline="always")
def exp32(x):  # pragma: no cover - compiled
    """``exp(x)`` of a float32 to within 1 ulp (float32), branch-free (see the module)."""
    clipped = min(max(x, _LOWEST_32), _HIGHEST_32)
    m = (clipped * _LOG2E_32 + _ROUNDER_32) - _ROUNDER_32
    r = (clipped - m * _LN2_HI_32) - m * _LN2_LO_32
    p = _P32[0]
    p = p * r + _P32[1]
    p = p * r + _P32[2]
    p = p * r + _P32[3]
    p = p * r + _P32[4]
    p = p * r + _P32[5]
    value = _ONE_32 + (r + (r * r) * p)
    whole = np.int32(m)
    half = whole >> 1
    result = (value * _float_from_bits(np.int32((half + 127) << 23))
              * _float_from_bits(np.int32((whole - half + 127) << 23)))
    return result if x == x else x


def exp_of(x):
    """:func:`exp` or :func:`exp32` by the type of ``x`` (for compiled callers)."""
    raise NotImplementedError("exp_of is for compiled code")


@overload(exp_of, inline="always")
def _exp_of(x):
    if x == types.float64:
        return lambda x: exp(x)
    if x == types.float32:
        return lambda x: exp32(x)
    return None


@njit(cache=True, nogil=True, fastmath={"contract"})
def exp_into(x, out):  # pragma: no cover - compiled
    """``out[i] = exp(x[i])`` (:func:`exp_of`) for 1-d float64 or float32 arrays, one vectorised
    loop (``out`` may be ``x``)."""
    for i in range(x.size):
        out[i] = exp_of(x[i])
