"""The Gaussian mixture E-step on several threads does its shared work once and shares the rows
out evenly (issue 15: two-thread E-steps had become slower than the kernel's own blocking)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from emkit.families import gaussian as gaussian_family
from emkit.kernels import gaussian_mixture_estep as ke
from emkit.latent.sequences import MIN_BLOCKS, Sequences
from emkit.models.gaussian_mixture import GaussianMixtureModel


def test_threads_make_the_product_form_of_an_e_step_once(monkeypatch):
    """Every thread needs the mixture's product form; the first makes it and the others wait
    (a slow making, which releases the GIL, gives the second thread every chance to race)."""
    made = []

    def slow_terms(*args, **kwargs):
        made.append(1)
        time.sleep(0.05)
        return ke.mixture_terms(*args, **kwargs)

    monkeypatch.setattr(gaussian_family, "mixture_terms", slow_terms)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 8))   # blocks of 2,500 rows: the product form's size, not the smallest problems'
    model = GaussianMixtureModel(4, "full", n_jobs=2)
    data = model.prepare(X)
    params = model.initial_params(data, np.random.default_rng(1))
    assert len(data.blocks) >= 2
    made.clear()
    model.e_step(data, params)
    assert len(made) == 1


@pytest.mark.parametrize("n_rows, n_blocks", [(20_000, 8), (65_536, 8), (70_000, 16), (200_000, 32)])
def test_rows_beyond_min_blocks_blocks_come_in_multiples_of_it(n_rows, n_blocks):
    """200,000 rows make 32 blocks of 6,250 (not 25 of 8,000: of two threads, one would do 13)."""
    offsets = np.array([0, n_rows])
    sequences = Sequences.build(np.empty((n_rows, 1)), offsets, 2, lambda rows: None)
    sizes = np.array([block.stop - block.start for block in sequences.blocks])
    assert len(sizes) == n_blocks and n_blocks % MIN_BLOCKS == 0
    assert sizes.sum() == n_rows and sizes.max() - sizes.min() <= 1


@pytest.mark.parametrize("n_rows, row_bytes, size", [(8_000, 1_224, 2_667), (2_500, 1_224, 2_500), (100, 8, 100),
                                                     (10_000, 1 << 20, 250)])
def test_a_block_is_taken_in_passes_of_one_size(n_rows, row_bytes, size):
    """The fewest passes of at most PASS_BYTES of features (or MIN_PASS_ROWS rows, if more), of
    about equal size: 8,000 full-covariance rows of d = 16 make three passes of 2,667, not
    3,426 + 3,426 + 1,148."""
    assert ke.pass_rows(n_rows, row_bytes) == size
    passes = -(-n_rows // size)
    assert passes * size - n_rows < passes


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows", [512, 8_192, 6_250, 1])
def test_feature_lines_are_not_a_multiple_of_4_kib_apart(covariance_type, dtype, rows):
    """A thread's features buffer Φᵀ (p, b) is written down its columns; passes of 8,192 rows
    (8 blocks at n = 65,536) gave lines 64 KiB apart, whose stores alias on one cache set
    (building the diag features took 2.5x as long). Its lines must lie an odd number of 64-byte
    cache lines apart, with room for the pass."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3)).astype(dtype)
    k = 2
    covariances = np.ones((k, 3)) if covariance_type == "diag" else np.stack([np.eye(3)] * k)
    terms = ke.mixture_terms(np.full(k, 0.5), rng.normal(size=(k, 3)), covariances, covariance_type, np.zeros(3))
    buffers = ke._Buffers(terms, np.dtype(dtype), rows)
    block = buffers.fill(X, np.arange(rows), None, ke.missing_layout(X))
    stride = buffers.features.strides[0]
    assert stride % 64 == 0 and (stride // 64) % 2 == 1
    assert buffers.features.shape[1] >= rows and block.features.shape[1] == rows
