"""The vectorised exponential (emkit.kernels.fast_exp) against the C library's and an
extended-precision one, over the whole float64 range and its special values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emkit.kernels.fast_exp import ULP_BOUND, exp_into


def fast(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    exp_into(x, out)
    return out


def c_exp(value):
    """The C library's exp, inf on overflow."""
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def ulp_errors(x, values):
    """|values − exp(x)| in units of the last place of the correctly rounded result, exp(x) in
    x87 extended precision (64-bit significand: its own error is ~2⁻¹¹ ulp)."""
    exact = np.exp(x.astype(np.longdouble))
    with np.errstate(over="ignore"):
        rounded = exact.astype(np.float64)
    return np.abs(values.astype(np.longdouble) - exact) / np.spacing(rounded).astype(np.longdouble)


needs_extended = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 60, reason="no extended-precision long double")


@needs_extended
def test_within_one_ulp_over_the_whole_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745.0, 709.7, 400_000),      # the whole range, subnormals included
                        rng.uniform(-40.0, 0.0, 400_000),         # where the E-step takes its ratios
                        -rng.exponential(1.0, 100_000),           # near 0
                        rng.uniform(-745.13, -708.39, 100_000)])  # results below the normal range
    errors = ulp_errors(x, fast(x))
    assert errors.max() <= ULP_BOUND
    assert np.mean(errors > 0.5) < 0.15            # most results correctly rounded
    near = x > -40.0                               # no bias: signed errors average out
    exact = np.exp(x[near].astype(np.longdouble))
    signed = (fast(x[near]).astype(np.longdouble) - exact) / np.spacing(exact.astype(np.float64))
    assert abs(float(np.mean(signed))) < 0.02


def test_special_values_as_the_c_library():
    x = np.array([0.0, -0.0, -np.inf, np.inf, np.nan, -1e300, 1e300, -746.0, -745.2, -745.1332191019412,
                  -745.1332191019411, -744.44007192138122, -708.3964185322641, -708.39641853226408,
                  709.782712893384, 709.7827128933841, 5e-324, -5e-324, 1e-20, -1e-20, 1.0, -1.0])
    expected = np.array([c_exp(v) for v in x])
    got = fast(x)
    exact = (expected == 0) | np.isinf(expected) | np.isnan(expected)
    assert np.array_equal(got[exact], expected[exact], equal_nan=True)
    assert np.all(np.abs(got[~exact] - expected[~exact]) <= np.spacing(expected[~exact]))
    assert got[2] == 0.0 and got[5] == 0.0 and got[7] == 0.0   # −inf, huge negative, below half the least subnormal
    assert got[10] == 5e-324                                     # the least subnormal
    assert 0.0 < got[11] < np.finfo(float).tiny                  # a subnormal
    assert got[3] == np.inf and got[15] == np.inf


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40))
def test_agrees_with_math_exp_to_one_ulp(values):
    x = np.array(values, dtype=np.float64)
    got = fast(x)
    for value, result in zip(values, got):
        if math.isnan(value):
            assert math.isnan(result)
            continue
        expected = c_exp(value)
        if expected in (0.0, math.inf):
            assert result == expected
        else:
            assert abs(result - expected) <= 2 * math.ulp(expected)   # both within 1 ulp of exp(value)


def test_the_loop_is_vectorised():
    """The point of the module: LLVM turns a loop over :func:`exp` into vector instructions."""
    from numba import njit

    loop = njit(exp_into.py_func, fastmath={"contract"})
    loop(np.zeros(16), np.zeros(16))
    assembly = loop.inspect_asm(loop.signatures[0])
    assert any(name in assembly for name in ("vmulpd", "mulpd", "fmul.2d", "fmul\tv"))


def test_float32_within_one_ulp_and_special_values():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-103.9, 88.7, 300_000), rng.uniform(-78.0, 0.0, 300_000)]).astype(np.float32)
    got = fast32(x)
    assert got.dtype == np.float32
    exact = np.exp(x.astype(np.float64))                 # float64: its error is ~2⁻²⁹ ulp of float32
    with np.errstate(under="ignore"):
        rounded = exact.astype(np.float32)
    normal = rounded >= np.finfo(np.float32).tiny
    errors = np.abs(got[normal].astype(np.float64) - exact[normal]) / np.spacing(rounded[normal]).astype(np.float64)
    assert errors.max() <= ULP_BOUND
    subnormal = ~normal                                  # below 2⁻¹²⁶: within one subnormal step
    assert np.all(np.abs(got[subnormal].astype(np.float64) - exact[subnormal]) <= 2.0 ** -149)
    special = np.array([0.0, -np.inf, np.inf, np.nan, -104.0, -1e30, 1e30, 89.0, -87.0], dtype=np.float32)
    out = fast32(special)
    assert out[0] == 1 and out[1] == 0 and out[2] == np.inf and np.isnan(out[3])
    assert out[4] == 0 and out[5] == 0 and out[6] == np.inf and out[7] == np.inf
    assert abs(float(out[8]) / math.exp(-87.0) - 1) < 2.0 ** -23


def fast32(x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    exp_into(x, out)
    return out
