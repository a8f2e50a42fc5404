"""One Viterbi step with back-pointers on LLVM vector registers, for at most 64 states.

Up to 16 states, all next states ``j`` at once, ``δ`` and the rows of ``log A`` held in vectors
of ``width`` lanes (4, 8 or 16 float64, padded with ``−inf`` past ``K``), the loop over previous states ``i``
unrolled (``width`` is fixed at compile time), with ``v_i = broadcast(δ_{t−1}(i)) + log A_i·``:

- the scalar kernel's scan (:func:`emkit.kernels.hmm.viterbi`), lane by lane: from ``−inf``,
  ``v_i`` is kept when ``v_i > best`` (a NaN sum ``+inf − inf`` never is; ties keep the lower
  ``i``), and ``argbest`` is the ``i`` last kept (0 when none is): the back-pointers;
- the same maximum as a balanced tree of ``vmaxpd`` (``log₂ width`` deep instead of ``K``), which
  gives ``δ_t = best + e_t`` (the shifted frame log-likelihoods) sooner.

The tree's maximum is the scan's bit for bit when no sum is NaN and none is ``−0`` (then equal
sums are the same number, in any order). No sum is ``−0`` because :func:`padded_transmat` turns a
``−0`` in ``log A`` into ``+0`` (a sum is ``−0`` only when both terms are; ``safe_log`` never
gives ``−0``), and a sum can be NaN only when ``δ_{t−1}`` has a ``+inf`` or NaN lane or ``log A``
a ``+inf`` or NaN: those steps take the scan's maximum instead (a select on a condition known
before the sums, off the recursion's critical path).

From 17 to 64 states (``width`` the next multiple of 8), next states go in chunks of 8 lanes
with the scan alone (:func:`_chunked_step_intrinsic`): the chunks' scans are independent chains,
so the step is bound by throughput, not by the scan's latency, and a tree would only add work.

Numba (LLVM 14) leaves these loops scalar for K below 32 or so whatever the fast-math licences, so
:func:`viterbi_step` writes their IR with vector types through a Numba intrinsic; LLVM splits a
vector wider than the machine's registers (16 lanes are two AVX-512 registers, four AVX2 ones,
eight SSE2 ones), so any x86-64 runs it. For K from 17 to 64 it vectorises the plain kernel's
loop over next states, but with the running maxima and back-pointers in memory (loaded, compared,
selected and stored for every ``i``); the chunked step keeps them in registers, about twice as fast.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Vector widths (float64 lanes) of the compiled steps; K states use the narrowest that holds K.
#: Up to :data:`TREE_WIDTH` lanes a step is one set of registers with a tree maximum; wider steps
#: run next states in chunks of :data:`CHUNK` lanes (:func:`_chunked_step_intrinsic`).
WIDTHS = (4, 8, 16, 24, 32, 40, 48, 56, 64)
TREE_WIDTH = 16
CHUNK = 8


def lanes(n_states: int) -> int:
    """The narrowest vector width of :data:`WIDTHS` with at least ``n_states`` lanes."""
    for width in WIDTHS:
        if n_states <= width:
            return width
    raise ValueError(f"n_states: the vector step takes at most {WIDTHS[-1]} states, got {n_states}")


def _float_array(value) -> bool:
    return isinstance(value, types.Array) and value.dtype == types.float64 and value.layout == "C"


def _step_signature(delta, table, scan_always, emission, row, pointers, t):
    """The steps' Numba signature for these argument types, or None (no match) when they do not fit."""
    if not (_float_array(delta) and _float_array(table) and _float_array(emission) and emission.ndim == 2):
        return None
    if not (isinstance(pointers, types.Array) and pointers.dtype == types.uint8 and pointers.ndim == 2
            and pointers.layout == "C" and isinstance(scan_always, types.Boolean)):
        return None
    if not (isinstance(t, types.Integer) and isinstance(row, types.Integer)):
        return None
    return types.void(delta, table, types.boolean, emission, types.intp, pointers, types.intp)


def _step_intrinsic(width: int):
    """The intrinsic ``step(delta, table, scan_always, emission, row, pointers, t)``, ``width`` lanes.

    ``delta`` (width,) holds ``δ_{t−1}`` and receives ``δ_t``; ``table`` is the C-contiguous
    (width, width) ``log A`` padded with ``−inf`` rows and columns (no ``−0``: see
    :func:`padded_transmat`); ``scan_always`` (a boolean: ``log A`` has a NaN or ``+inf``) makes
    every step take the scan's maximum; ``emission[row]`` (a C-contiguous (·, width) array) the step's
    ``e_t``; ``pointers[t, :width]`` (uint8, C-contiguous) receives ``argbest``. The loops over
    previous states are unrolled (``width`` is known at compile time), so ``δ_{t−1}(i)`` is
    broadcast from a register and the maximum is a balanced tree.
    """
    double = ir.DoubleType()
    int32 = ir.IntType(32)
    vector = ir.VectorType(double, width)
    index_vector = ir.VectorType(int32, width)
    byte_vector = ir.VectorType(ir.IntType(8), width)
    minus_infinity = ir.Constant(vector, [float("-inf")] * width)
    plus_infinity = ir.Constant(vector, [float("inf")] * width)

    def load_vector(builder, pointer):
        return builder.load(builder.bitcast(pointer, vector.as_pointer()), align=8)

    def larger(builder, a, b):       # the larger of two vectors (b when equal or either is NaN): vmaxpd
        return builder.select(builder.fcmp_ordered(">", a, b), a, b)

    @intrinsic
    def step(typingctx, delta, table, scan_always, emission, row, pointers, t):
        def codegen(context, builder, signature, args):
            delta_ty, table_ty, _, emission_ty, _, pointers_ty, _ = signature.args
            delta_value, table_value, scan_always, emission_value, emission_row, pointers_value, step_index = args
            delta_data = context.make_array(delta_ty)(context, builder, delta_value).data
            table_data = context.make_array(table_ty)(context, builder, table_value).data
            emission_data = context.make_array(emission_ty)(context, builder, emission_value).data
            pointers_array = context.make_array(pointers_ty)(context, builder, pointers_value)
            row_stride = builder.extract_value(pointers_array.strides, 0)
            pointer_row = builder.gep(pointers_array.data, [builder.mul(step_index, row_stride)])
            previous = load_vector(builder, delta_data)
            summands = []        # v_i = broadcast(δ_{t−1}(i)) + log A_i·
            for i in range(width):
                splat = builder.shuffle_vector(previous, previous, ir.Constant(index_vector, [i] * width))
                transitions = load_vector(builder, builder.gep(table_data, [ir.Constant(ir.IntType(64), i * width)]))
                summands.append(builder.fadd(splat, transitions))
            # the scalar kernel's scan: the first strict improvement, from −inf (a NaN is never kept)
            running, argbest = minus_infinity, ir.Constant(index_vector, [0] * width)
            for i, value in enumerate(summands):
                improves = builder.fcmp_ordered(">", value, running)
                running = builder.select(improves, value, running)
                argbest = builder.select(improves, ir.Constant(index_vector, [i] * width), argbest)
            # the same maximum as a balanced tree (shorter latency), when no sum can be NaN
            level = list(summands)
            while len(level) > 1:
                level = [larger(builder, *level[j:j + 2]) if j + 1 < len(level) else level[j]
                         for j in range(0, len(level), 2)]
            not_finite_above = builder.fcmp_unordered("==", previous, plus_infinity)      # +inf or NaN
            any_lane = builder.icmp_unsigned("!=", builder.bitcast(not_finite_above, ir.IntType(width)),
                                             ir.Constant(ir.IntType(width), 0))
            scan_only = builder.or_(any_lane,
                                    builder.icmp_unsigned("!=", scan_always, ir.Constant(scan_always.type, 0)))
            best = builder.select(scan_only, running, level[0])
            offset = builder.mul(emission_row, ir.Constant(emission_row.type, width))
            builder.store(builder.fadd(best, load_vector(builder, builder.gep(emission_data, [offset]))),
                          builder.bitcast(delta_data, vector.as_pointer()), align=8)
            builder.store(builder.trunc(argbest, byte_vector), builder.bitcast(pointer_row, byte_vector.as_pointer()),
                          align=1)
            return context.get_dummy_value()

        signature = _step_signature(delta, table, scan_always, emission, row, pointers, t)
        return None if signature is None else (signature, codegen)

    return step


def _chunked_step_intrinsic(width: int):
    """The step of :func:`_step_intrinsic` for ``width`` a multiple of :data:`CHUNK` above 16 lanes.

    Next states go in ``width / CHUNK`` chunks of :data:`CHUNK` lanes, each its own register pair
    (running maximum, arg-max); the loop over previous states ``i`` is unrolled and outermost, so
    ``δ_{t−1}(i)`` is broadcast once and the chunks' scans are independent chains. There is no
    tree: the scan is the scalar kernel's, from ``−inf``, keeping ``v_i`` only when
    ``v_i > best`` (NaN sums skipped, ties to the lower ``i``), so ``δ_t`` is its bits for any
    input and ``scan_always`` is not needed. The arg-max is held in 64-bit lanes (the comparison's
    mask selects it as it does the maximum) and stored as uint8.
    """
    double = ir.DoubleType()
    int64 = ir.IntType(64)
    vector = ir.VectorType(double, CHUNK)
    index_vector = ir.VectorType(int64, CHUNK)
    byte_vector = ir.VectorType(ir.IntType(8), CHUNK)
    n_chunks = width // CHUNK

    def load_vector(builder, pointer, offset):
        return builder.load(builder.bitcast(builder.gep(pointer, [ir.Constant(int64, offset)]), vector.as_pointer()),
                            align=8)

    @intrinsic
    def step(typingctx, delta, table, scan_always, emission, row, pointers, t):
        def codegen(context, builder, signature, args):
            delta_ty, table_ty, _, emission_ty, _, pointers_ty, _ = signature.args
            delta_value, table_value, _, emission_value, emission_row, pointers_value, step_index = args
            delta_data = context.make_array(delta_ty)(context, builder, delta_value).data
            table_data = context.make_array(table_ty)(context, builder, table_value).data
            emission_data = context.make_array(emission_ty)(context, builder, emission_value).data
            pointers_array = context.make_array(pointers_ty)(context, builder, pointers_value)
            row_stride = builder.extract_value(pointers_array.strides, 0)
            pointer_row = builder.gep(pointers_array.data, [builder.mul(step_index, row_stride)])
            running = [ir.Constant(vector, [float("-inf")] * CHUNK)] * n_chunks
            argbest = [ir.Constant(index_vector, [0] * CHUNK)] * n_chunks
            for i in range(width):         # all loads of δ_{t−1} come before the stores of δ_t
                previous = builder.load(builder.gep(delta_data, [ir.Constant(int64, i)]))
                splat = builder.shuffle_vector(builder.insert_element(ir.Constant(vector, ir.Undefined), previous,
                                                                      ir.Constant(ir.IntType(32), 0)),
                                               ir.Constant(vector, ir.Undefined),
                                               ir.Constant(ir.VectorType(ir.IntType(32), CHUNK), [0] * CHUNK))
                for c in range(n_chunks):
                    value = builder.fadd(splat, load_vector(builder, table_data, i * width + c * CHUNK))
                    improves = builder.fcmp_ordered(">", value, running[c])
                    running[c] = builder.select(improves, value, running[c])
                    argbest[c] = builder.select(improves, ir.Constant(index_vector, [i] * CHUNK), argbest[c])
            offset = builder.mul(emission_row, ir.Constant(emission_row.type, width))
            for c in range(n_chunks):
                emission_chunk = builder.load(builder.bitcast(
                    builder.gep(emission_data, [builder.add(offset, ir.Constant(offset.type, c * CHUNK))]),
                    vector.as_pointer()), align=8)
                builder.store(builder.fadd(running[c], emission_chunk),
                              builder.bitcast(builder.gep(delta_data, [ir.Constant(int64, c * CHUNK)]),
                                              vector.as_pointer()), align=8)
                builder.store(builder.trunc(argbest[c], byte_vector),
                              builder.bitcast(builder.gep(pointer_row, [ir.Constant(int64, c * CHUNK)]),
                                              byte_vector.as_pointer()), align=1)
            return context.get_dummy_value()

        signature = _step_signature(delta, table, scan_always, emission, row, pointers, t)
        return None if signature is None else (signature, codegen)

    return step


_step4, _step8, _step16 = (_step_intrinsic(width) for width in WIDTHS if width <= TREE_WIDTH)
_step24, _step32, _step40, _step48, _step56, _step64 = (_chunked_step_intrinsic(width) for width in WIDTHS
                                                        if width > TREE_WIDTH)


@njit(cache=True, nogil=True)
def padded_transmat(log_transmat, width):  # pragma: no cover - compiled
    """``log A`` (K, K) in the top-left corner of a (width, width) array of ``−inf``, ``−0`` made ``+0``.

    Without ``−0`` among the ``log A_ij``, no sum ``δ(i) + log A_ij`` is ``−0`` (a sum is ``−0``
    only when both terms are), so the maximum of the sums is the same number in any order, and
    ``δ`` the same bits as the scalar kernel's for any ``log A`` that :func:`emkit.numerics.safe_log`
    makes (it never gives ``−0``).
    """
    n_states = log_transmat.shape[0]
    table = np.full((width, width), -np.inf)
    for i in range(n_states):
        for j in range(n_states):
            table[i, j] = log_transmat[i, j] + 0.0
    return table


@njit(cache=True, nogil=True, inline="always")
def viterbi_step(delta, table, scan_always, emission, row, pointers, t):  # pragma: no cover - compiled
    """``δ ← max_i (δ(i) + table[i]) + emission[row]`` lane by lane; its arg-max to ``pointers[t]``.

    ``table`` is :func:`padded_transmat` (width, width), ``width`` one of :data:`WIDTHS`;
    ``delta`` (width,), ``emission`` (·, width) float64 and ``pointers`` (n, width) uint8, all
    C-contiguous; ``scan_always``: ``log A`` has a NaN or ``+inf``. See the module's docstring.
    """
    width = table.shape[1]
    if width == 4:
        _step4(delta, table, scan_always, emission, row, pointers, t)
    elif width == 8:
        _step8(delta, table, scan_always, emission, row, pointers, t)
    elif width == 16:
        _step16(delta, table, scan_always, emission, row, pointers, t)
    elif width == 24:
        _step24(delta, table, scan_always, emission, row, pointers, t)
    elif width == 32:
        _step32(delta, table, scan_always, emission, row, pointers, t)
    elif width == 40:
        _step40(delta, table, scan_always, emission, row, pointers, t)
    elif width == 48:
        _step48(delta, table, scan_always, emission, row, pointers, t)
    elif width == 56:
        _step56(delta, table, scan_always, emission, row, pointers, t)
    else:
        _step64(delta, table, scan_always, emission, row, pointers, t)
