"""Steps of the scaled forward–backward recursions on LLVM vector registers, for at most 16 states.

The state vector (``α̃_{t−1}``, or ``β̃_{t+1}``) lives in a scratch array of ``width`` lanes (4, 8
or 16 float64, :func:`emkit.kernels.max_plus_vector.lanes`), zero past ``K``; the transition
matrix is padded with zeros to (width, width) (:func:`padded_matrix`), so the padding lanes stay
zero. One step is ``K`` (rounded up to ``width``) broadcast products with the rows of the table,
added as a balanced tree (pairs fused multiply–add where the machine has it), a product with the
frame row and a horizontal sum as a fixed tree of shuffles:

- forward (:func:`forward_step`): ``α̃_t = (Σ_i α̃_{t−1}(i) A_i·) ∘ b_t``, table ``A``;
- backward (:func:`backward_step`): ``w = b_{t+1} ∘ β̃_{t+1}``, ``r_t = Σ_k w(k) (Aᵀ)_k·``, table ``Aᵀ``;
- combination (:func:`combine_step`): ``γ_t = (α̃_t / d) ∘ r_t`` and ``ξ_t`` as ``K`` broadcast
  updates ``Ξ_i· += (α̃_t(i) / d) w`` of the rows of a (width, width) accumulator.

Frame rows, posteriors and count tables of ``K`` columns are read and written with masked vector
loads and stores (lanes past ``K`` read as zero, never written), so no row is copied or padded.
The arithmetic is fixed by the step's IR (no fast-math licences), hence the same for any number of
threads; it adds in another order than the scalar kernels of :mod:`emkit.kernels.hmm`, so the
results agree with theirs to rounding, not bit for bit. Numba (LLVM) leaves the scalar loops
scalar at these sizes; LLVM splits a vector wider than the machine's registers, so any x86-64
runs these steps (masked operations are scalarised where the machine has none).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from llvmlite.ir import types as ir_types
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .max_plus_vector import TREE_WIDTH, WIDTHS

_DOUBLE = ir.DoubleType()
_INT32 = ir.IntType(32)
_INT64 = ir.IntType(64)


def _float_array(value, ndim: int) -> bool:
    return (isinstance(value, types.Array) and value.dtype == types.float64 and value.layout == "C"
            and value.ndim == ndim)


class _Vectors:
    """IR helpers for vectors of ``width`` float64 lanes."""

    def __init__(self, width: int):
        self.width = width
        self.vector = ir.VectorType(_DOUBLE, width)
        self.index_vector = ir.VectorType(_INT32, width)
        self.zero = ir.Constant(self.vector, [0.0] * width)

    def pointer(self, builder, address):
        return builder.bitcast(address, self.vector.as_pointer())

    def load(self, builder, address):
        return builder.load(self.pointer(builder, address), align=8)

    def store(self, builder, value, address):
        builder.store(value, self.pointer(builder, address), align=8)

    def mask(self, builder, n_states):
        """Lanes ``< n_states`` (an i64)."""
        lanes = ir.Constant(ir.VectorType(_INT64, self.width), list(range(self.width)))
        count = builder.insert_element(ir.Constant(ir.VectorType(_INT64, self.width), ir.Undefined), n_states,
                                       ir.Constant(_INT32, 0))
        count = builder.shuffle_vector(count, count, ir.Constant(self.index_vector, [0] * self.width))
        return builder.icmp_signed("<", lanes, count)

    def _masked(self, builder, name, arguments):
        pointer_type = self.vector.as_pointer()
        mask_type = ir.VectorType(ir.IntType(1), self.width)
        if name == "load":
            signature = ir.FunctionType(self.vector, [pointer_type, _INT32, mask_type, self.vector])
        else:
            signature = ir.FunctionType(ir.VoidType(), [self.vector, pointer_type, _INT32, mask_type])
        pointer_name = f"p0v{self.width}f64" if ir_types.ir_layer_typed_pointers_enabled else "p0"
        full_name = f"llvm.masked.{name}.v{self.width}f64.{pointer_name}"
        function = cgutils.get_or_insert_function(builder.module, signature, full_name)
        return builder.call(function, arguments)

    def masked_load(self, builder, address, mask):
        """The lanes of ``mask`` from ``address``, zero elsewhere (nothing read there)."""
        return self._masked(builder, "load", [self.pointer(builder, address), ir.Constant(_INT32, 8), mask,
                                              self.zero])

    def masked_store(self, builder, value, address, mask):
        self._masked(builder, "store", [value, self.pointer(builder, address), ir.Constant(_INT32, 8), mask])

    def splat(self, builder, value, lane):
        return builder.shuffle_vector(value, value, ir.Constant(self.index_vector, [lane] * self.width))

    def scalar_splat(self, builder, value):
        vector = builder.insert_element(ir.Constant(self.vector, ir.Undefined), value, ir.Constant(_INT32, 0))
        return self.splat(builder, vector, 0)

    def fmuladd(self, builder, a, b, c):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.vector, [self.vector] * 3), f"llvm.fmuladd.v{self.width}f64")
        return builder.call(function, [a, b, c])

    def combination(self, builder, weights, table_data):
        """``Σ_i weights(i) table_i·`` over the ``width`` rows of a C-contiguous (width, width) table:
        pairs ``w(2j+1) T_{2j+1} + w(2j) T_{2j}`` (one fused multiply–add), then a balanced tree."""
        rows = [self.load(builder, builder.gep(table_data, [ir.Constant(_INT64, i * self.width)]))
                for i in range(self.width)]
        level = [self.fmuladd(builder, self.splat(builder, weights, i + 1), rows[i + 1],
                              builder.fmul(self.splat(builder, weights, i), rows[i]))
                 for i in range(0, self.width, 2)]
        while len(level) > 1:
            level = [builder.fadd(level[j], level[j + 1]) for j in range(0, len(level), 2)]
        return level[0]

    def total(self, builder, value):
        """The sum of the lanes, as a fixed tree (halves added until one lane is left)."""
        size = self.width
        while size > 1:
            size //= 2
            low = builder.shuffle_vector(value, value, ir.Constant(self.index_vector,
                                                                   list(range(size)) + [0] * (self.width - size)))
            high = builder.shuffle_vector(value, value, ir.Constant(
                self.index_vector, list(range(size, 2 * size)) + [0] * (self.width - size)))
            value = builder.fadd(low, high)
        return builder.extract_element(value, ir.Constant(_INT32, 0))


def _data(context, builder, array_type, value):
    return context.make_array(array_type)(context, builder, value).data


def _row_address(context, builder, array_type, value, index):
    """The address of row ``index`` of a 2-D array (its first stride, in bytes)."""
    array = context.make_array(array_type)(context, builder, value)
    stride = builder.extract_value(array.strides, 0)
    byte = builder.gep(builder.bitcast(array.data, ir.IntType(8).as_pointer()), [builder.mul(index, stride)])
    return builder.bitcast(byte, _DOUBLE.as_pointer())


def _intrinsics(width: int):
    """The step intrinsics of ``width`` lanes (see the module docstring)."""
    ops = _Vectors(width)

    @intrinsic
    def forward(typingctx, state, table, frame, row, n_states, out, t):
        """``α̃_t = (Σ_i state(i) table_i·) ∘ frame[row]`` into ``state`` and ``out[t, :K]``; its sum."""
        def codegen(context, builder, signature, args):
            state_ty, table_ty, frame_ty, _, _, out_ty, _ = signature.args
            state_value, table_value, frame_value, row_value, count, out_value, step = args
            state_data = _data(context, builder, state_ty, state_value)
            mask = ops.mask(builder, count)
            emission = ops.masked_load(builder, _row_address(context, builder, frame_ty, frame_value, row_value), mask)
            weights = ops.load(builder, state_data)
            new = builder.fmul(ops.combination(builder, weights, _data(context, builder, table_ty, table_value)),
                               emission)
            ops.store(builder, new, state_data)
            ops.masked_store(builder, new, _row_address(context, builder, out_ty, out_value, step), mask)
            return ops.total(builder, new)

        if not (_float_array(state, 1) and _float_array(table, 2) and _float_array(frame, 2)
                and _float_array(out, 2)):
            return None
        return types.float64(state, table, frame, types.intp, types.intp, out, types.intp), codegen

    @intrinsic
    def backward(typingctx, state, table, frame, row, n_states, weighted):
        """``w = frame[row] ∘ state`` into ``weighted``, ``r = Σ_k w(k) table_k·`` into ``state``; ``Σ r``."""
        def codegen(context, builder, signature, args):
            state_ty, table_ty, frame_ty, _, _, weighted_ty = signature.args
            state_value, table_value, frame_value, row_value, count, weighted_value = args
            state_data = _data(context, builder, state_ty, state_value)
            emission = ops.masked_load(builder, _row_address(context, builder, frame_ty, frame_value, row_value),
                                       ops.mask(builder, count))
            product = builder.fmul(emission, ops.load(builder, state_data))
            ops.store(builder, product, _data(context, builder, weighted_ty, weighted_value))
            raw = ops.combination(builder, product, _data(context, builder, table_ty, table_value))
            ops.store(builder, raw, state_data)
            return ops.total(builder, raw)

        if not (_float_array(state, 1) and _float_array(table, 2) and _float_array(frame, 2)
                and _float_array(weighted, 1)):
            return None
        return types.float64(state, table, frame, types.intp, types.intp, weighted), codegen

    @intrinsic
    def dot(typingctx, a, b):
        """``Σ_k a(k) b(k)`` over the ``width`` lanes."""
        def codegen(context, builder, signature, args):
            a_ty, b_ty = signature.args
            return ops.total(builder, builder.fmul(ops.load(builder, _data(context, builder, a_ty, args[0])),
                                                   ops.load(builder, _data(context, builder, b_ty, args[1]))))

        if not (_float_array(a, 1) and _float_array(b, 1)):
            return None
        return types.float64(a, b), codegen

    @intrinsic
    def load_row(typingctx, state, matrix, t, scale, frame, row, n_states):
        """``state = matrix[t, :K] ∘ frame[row, :K] · scale`` (zero past ``K``)."""
        def codegen(context, builder, signature, args):
            state_ty, matrix_ty, _, _, frame_ty, _, _ = signature.args
            state_value, matrix_value, step, factor, frame_value, row_value, count = args
            mask = ops.mask(builder, count)
            value = builder.fmul(
                ops.masked_load(builder, _row_address(context, builder, matrix_ty, matrix_value, step), mask),
                ops.masked_load(builder, _row_address(context, builder, frame_ty, frame_value, row_value), mask))
            value = builder.fmul(value, ops.scalar_splat(builder, factor))
            ops.store(builder, value, _data(context, builder, state_ty, state_value))
            return context.get_dummy_value()

        if not (_float_array(state, 1) and _float_array(matrix, 2) and _float_array(frame, 2)):
            return None
        return types.void(state, matrix, types.intp, types.float64, frame, types.intp, types.intp), codegen

    @intrinsic
    def store_row(typingctx, state, matrix, t, n_states):
        """``matrix[t, :K] = state[:K]``."""
        def codegen(context, builder, signature, args):
            state_ty, matrix_ty, _, _ = signature.args
            state_value, matrix_value, step, count = args
            ops.masked_store(builder, ops.load(builder, _data(context, builder, state_ty, state_value)),
                             _row_address(context, builder, matrix_ty, matrix_value, step), ops.mask(builder, count))
            return context.get_dummy_value()

        if not (_float_array(state, 1) and _float_array(matrix, 2)):
            return None
        return types.void(state, matrix, types.intp, types.intp), codegen

    @intrinsic
    def combine(typingctx, raw, weighted, alpha, posteriors, t, following, inverse, n_states, visits, xi,
                count_transitions, row_counts, row):
        """``g = alpha · inverse ∘ raw`` into ``posteriors[t]``, after ``alpha ← posteriors[following]``
        (read before the write: a masked read overlapping a row just written waits for it);
        ``visits += g``; ``row_counts[row] += g`` when ``row_counts`` (width columns) has rows;
        ``xi_i· += (alpha(i) · inverse) weighted`` when ``count_transitions``."""
        def codegen(context, builder, signature, args):
            (raw_ty, weighted_ty, alpha_ty, posteriors_ty, _, _, _, _, visits_ty, xi_ty, _, counts_ty,
             _) = signature.args
            (raw_value, weighted_value, alpha_value, posteriors_value, step, next_step, factor, count, visits_value,
             xi_value, transitions, counts_value, row_value) = args
            mask = ops.mask(builder, count)
            alpha_data = _data(context, builder, alpha_ty, alpha_value)
            left = builder.fmul(ops.load(builder, alpha_data), ops.scalar_splat(builder, factor))
            gamma = builder.fmul(left, ops.load(builder, _data(context, builder, raw_ty, raw_value)))
            following_row = ops.masked_load(
                builder, _row_address(context, builder, posteriors_ty, posteriors_value, next_step), mask)
            ops.store(builder, following_row, alpha_data)
            ops.masked_store(builder, gamma, _row_address(context, builder, posteriors_ty, posteriors_value, step),
                             mask)
            visits_data = _data(context, builder, visits_ty, visits_value)
            ops.store(builder, builder.fadd(ops.load(builder, visits_data), gamma), visits_data)
            counts = context.make_array(counts_ty)(context, builder, counts_value)
            has_rows = builder.icmp_signed(">", builder.extract_value(counts.shape, 0), ir.Constant(_INT64, 0))
            with builder.if_then(has_rows):
                counts_address = _row_address(context, builder, counts_ty, counts_value, row_value)
                ops.store(builder, builder.fadd(ops.load(builder, counts_address), gamma), counts_address)
            with builder.if_then(builder.icmp_unsigned("!=", transitions, ir.Constant(transitions.type, 0))):
                weights = ops.load(builder, _data(context, builder, weighted_ty, weighted_value))
                xi_data = _data(context, builder, xi_ty, xi_value)
                for i in range(width):
                    xi_row = builder.gep(xi_data, [ir.Constant(_INT64, i * width)])
                    ops.store(builder, ops.fmuladd(builder, ops.splat(builder, left, i), weights,
                                                   ops.load(builder, xi_row)), xi_row)
            return context.get_dummy_value()

        if not (_float_array(raw, 1) and _float_array(weighted, 1) and _float_array(alpha, 1)
                and _float_array(posteriors, 2) and _float_array(visits, 1) and _float_array(xi, 2)
                and _float_array(row_counts, 2) and isinstance(count_transitions, types.Boolean)):
            return None
        return types.void(raw, weighted, alpha, posteriors, types.intp, types.intp, types.float64, types.intp, visits,
                          xi, types.boolean, row_counts, types.intp), codegen

    return forward, backward, dot, load_row, store_row, combine


(_forward4, _backward4, _dot4, _load_row4, _store_row4, _combine4), \
    (_forward8, _backward8, _dot8, _load_row8, _store_row8, _combine8), \
    (_forward16, _backward16, _dot16, _load_row16, _store_row16, _combine16) = (_intrinsics(w) for w in WIDTHS
                                                                                if w <= TREE_WIDTH)


@njit(cache=True, nogil=True)
def padded_matrix(matrix, width, transpose):  # pragma: no cover - compiled
    """``matrix`` (K, K), or its transpose, in the top-left corner of a (width, width) array of zeros."""
    n_states = matrix.shape[0]
    table = np.zeros((width, width))
    for i in range(n_states):
        for j in range(n_states):
            table[i, j] = matrix[j, i] if transpose else matrix[i, j]
    return table


@njit(cache=True, nogil=True, inline="always")
def forward_step(state, table, frame, row, n_states, out, t):  # pragma: no cover - compiled
    """``state ← (Σ_i state(i) table_i·) ∘ frame[row]``, also into ``out[t, :K]``; returns its sum.

    ``state`` (width,) zero past ``K``, ``table`` :func:`padded_matrix` of ``A``; ``frame`` and
    ``out`` C-contiguous 2-D float64 arrays of ``K`` columns.
    """
    width = table.shape[1]
    if width == 4:
        return _forward4(state, table, frame, row, n_states, out, t)
    if width == 8:
        return _forward8(state, table, frame, row, n_states, out, t)
    return _forward16(state, table, frame, row, n_states, out, t)


@njit(cache=True, nogil=True, inline="always")
def backward_step(state, table, frame, row, n_states, weighted):  # pragma: no cover - compiled
    """``weighted ← frame[row] ∘ state``, ``state ← Σ_k weighted(k) table_k·``; returns ``Σ state``.

    ``table`` is :func:`padded_matrix` of ``Aᵀ``, so ``state ← A (b ∘ β)``.
    """
    width = table.shape[1]
    if width == 4:
        return _backward4(state, table, frame, row, n_states, weighted)
    if width == 8:
        return _backward8(state, table, frame, row, n_states, weighted)
    return _backward16(state, table, frame, row, n_states, weighted)


@njit(cache=True, nogil=True, inline="always")
def dot(a, b):  # pragma: no cover - compiled
    """``Σ_k a(k) b(k)`` over the lanes of two vectors (a fixed tree)."""
    width = a.shape[0]
    if width == 4:
        return _dot4(a, b)
    if width == 8:
        return _dot8(a, b)
    return _dot16(a, b)


@njit(cache=True, nogil=True, inline="always")
def load_row(state, matrix, t, scale, frame, row, n_states):  # pragma: no cover - compiled
    """``state ← matrix[t] ∘ frame[row] · scale`` (``K`` lanes, zero past them)."""
    width = state.shape[0]
    if width == 4:
        _load_row4(state, matrix, t, scale, frame, row, n_states)
    elif width == 8:
        _load_row8(state, matrix, t, scale, frame, row, n_states)
    else:
        _load_row16(state, matrix, t, scale, frame, row, n_states)


@njit(cache=True, nogil=True, inline="always")
def store_row(state, matrix, t, n_states):  # pragma: no cover - compiled
    """``matrix[t, :K] ← state[:K]``."""
    width = state.shape[0]
    if width == 4:
        _store_row4(state, matrix, t, n_states)
    elif width == 8:
        _store_row8(state, matrix, t, n_states)
    else:
        _store_row16(state, matrix, t, n_states)


@njit(cache=True, nogil=True, inline="always")
def combine_step(raw, weighted, alpha, posteriors, t, following, inverse, n_states, visits, xi, count_transitions,
                 row_counts, row):  # pragma: no cover - compiled
    """``γ_t = alpha · inverse ∘ raw`` written into ``posteriors[t]`` and added to ``visits`` (and to
    ``row_counts[row]``, of ``width`` columns, when it has rows: whole vectors, which a row's next
    update reads straight from the store buffer); with ``count_transitions``, ``xi`` (width, width)
    ``+= (alpha · inverse) ⊗ weighted`` (the ``ξ_t`` terms before the factor ``A``). ``alpha`` then
    holds ``posteriors[following]`` (read before ``posteriors[t]`` is written)."""
    width = raw.shape[0]
    if width == 4:
        _combine4(raw, weighted, alpha, posteriors, t, following, inverse, n_states, visits, xi, count_transitions,
                  row_counts, row)
    elif width == 8:
        _combine8(raw, weighted, alpha, posteriors, t, following, inverse, n_states, visits, xi, count_transitions,
                  row_counts, row)
    else:
        _combine16(raw, weighted, alpha, posteriors, t, following, inverse, n_states, visits, xi, count_transitions,
                   row_counts, row)
