"""Ternary (simplex) figures of three frequencies: the EM path and the confidence region.

A frequency vector ``p = (p_1, p_2, p_3)`` is drawn at ``x = p_2 + p_3/2``, ``y = (√3/2) p_3``,
so the vertices are the pure alleles and the distance to a side is proportional to a frequency.
This map is linear, ``xy = A p``, so a covariance ``Σ`` of ``p`` (the delta method's
``J V Jᵀ``) is carried exactly to ``A Σ Aᵀ``; the confidence region is the ellipse
``(xy − xŷ)ᵀ (A Σ Aᵀ)⁻¹ (xy − xŷ) ≤ χ²₂(level) = −2 log(1 − level)``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from scipy import linalg

from ..engine import EMResult
from ..engine.model import flatten_named
from ..inference import StandardErrors
from .convergence import plot_loglik, plot_parameter_paths

#: Frequencies of the grid lines (labelled on the sides).
GRID_FRACTIONS = (0.2, 0.4, 0.6, 0.8)

#: The standard-error methods in words (legend of the confidence region).
METHOD_NAMES = {"louis": "Louis's observed information", "sem": "supplemented EM", "bootstrap": "bootstrap",
                "hessian": "numerical Hessian"}

#: Linear map from a frequency vector to the plane of the triangle.
TERNARY = np.array([[0.0, 1.0, 0.5], [0.0, 0.0, np.sqrt(3.0) / 2.0]])


def ternary_xy(frequencies: np.ndarray) -> np.ndarray:
    """Points of the triangle for frequency vectors (last axis of length 3): ``xy = A p``."""
    return np.asarray(frequencies, dtype=float) @ TERNARY.T


def confidence_ellipse(centre: np.ndarray, cov: np.ndarray, level: float = 0.95, n_points: int = 200) -> np.ndarray:
    """Boundary of ``{p : (p − c)ᵀ Σ⁺ (p − c) ≤ χ²₂(level)}`` for frequencies ``p`` with covariance
    ``Σ`` (rank 2), as ``n_points`` points of the triangle, shape ``(n_points, 2)``."""
    cov_xy = TERNARY @ cov @ TERNARY.T
    factor = linalg.cholesky(0.5 * (cov_xy + cov_xy.T), lower=True)
    angle = np.linspace(0.0, 2.0 * np.pi, n_points)
    circle = np.sqrt(-2.0 * np.log1p(-level)) * np.vstack([np.cos(angle), np.sin(angle)])
    return ternary_xy(centre) + (factor @ circle).T


def _frequency_path(result: EMResult) -> tuple[list[str], np.ndarray]:
    """Names and the (iteration × 3) frequencies of a fit of three frequencies."""
    names, final = flatten_named(result.named_params())
    if final.size != 3 or abs(final.sum() - 1.0) > 1e-8:
        raise ValueError(f"result: a simplex plot needs three frequencies summing to one, got {dict(zip(names, final))}")
    return names, result.trace.named_table(result.model)[1]


def plot_simplex(result: EMResult, ax, se: StandardErrors | None = None, level: float = 0.95) -> None:
    """The EM path of three frequencies on the triangle; with ``se``, the confidence region of
    the estimate in a zoomed inset."""
    names, path = _frequency_path(result)
    corners = ternary_xy(np.eye(3))
    ax.fill(*corners.T, facecolor="0.97", edgecolor="0.2", linewidth=1.0, zorder=0)
    for fraction in GRID_FRACTIONS:  # lines of constant frequency
        for k in range(3):
            ends = np.array([np.roll([fraction, 1 - fraction, 0.0], k), np.roll([fraction, 0.0, 1 - fraction], k)])
            ax.plot(*ternary_xy(ends).T, color="0.82", linewidth=0.6, zorder=0.5)
    for name, corner, offset in zip(names, corners, ([-0.04, -0.05], [0.04, -0.05], [0.0, 0.03])):
        ax.annotate(f"{name} = 1", corner, xytext=corner + offset, ha="center", va="center")
    _frequency_ticks(ax, names)
    xy = ternary_xy(path)
    ax.plot(*xy.T, color="tab:blue", marker="o", markersize=3, linewidth=0.8, label="EM iterates, in order")
    ax.plot(*xy[0], marker="s", color="tab:green", linestyle="none", label="starting values")
    ax.plot(*xy[-1], marker="*", markersize=11, color="tab:red", linestyle="none",
            label="maximum-likelihood estimate")
    if se is not None:
        ellipse = confidence_ellipse(path[-1], se.reported_cov, level)
        ax.plot(*ellipse.T, color="tab:red", linewidth=1.0,
                label=f"{level:.0%} confidence region\n({METHOD_NAMES.get(se.method, se.method)})")
        _zoom(ax, xy, ellipse)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.legend(loc="upper left", fontsize="small", frameon=False, bbox_to_anchor=(-0.05, 1.02))


def _frequency_ticks(ax, names: list[str]) -> None:
    """Frequency values where the grid lines meet the sides: the lines of constant ``p_k`` are
    labelled on the side from vertex ``k`` to vertex ``k + 1`` (``p_k`` grows towards vertex
    ``k``), with the side named ``p_k``."""
    corners = ternary_xy(np.eye(3))
    centre = corners.mean(axis=0)
    for k in range(3):
        side = corners[(k + 1) % 3] - corners[k]
        midpoint = corners[k] + 0.5 * side
        outward = (midpoint - centre) / np.linalg.norm(midpoint - centre)
        angle = float(np.degrees(np.arctan2(side[1], side[0])))
        angle = angle - 180.0 if angle > 90 else angle + 180.0 if angle < -90 else angle
        for fraction in GRID_FRACTIONS:
            point = ternary_xy(np.roll([fraction, 1 - fraction, 0.0], k))
            ax.text(*(point + 0.035 * outward), f"{fraction:.1f}", ha="center", va="center", fontsize="x-small",
                    color="0.35")
        ax.text(*(midpoint + 0.1 * outward), f"frequency of {names[k]}",
                ha="center", va="center", rotation=angle, fontsize="small", color="0.25")


def _zoom(ax, xy: np.ndarray, ellipse: np.ndarray) -> None:
    """Inset around the confidence region with the iterates that fall in it."""
    low, high = ellipse.min(axis=0), ellipse.max(axis=0)
    half = 0.75 * (high - low).max()
    centre = 0.5 * (low + high)
    inset = ax.inset_axes([1.0, 0.5, 0.45, 0.45])
    inset.plot(*xy.T, color="tab:blue", marker="o", markersize=3, linewidth=0.8)
    inset.plot(*xy[-1], marker="*", markersize=11, color="tab:red")
    inset.plot(*ellipse.T, color="tab:red", linewidth=1.0)
    inset.set_xlim(centre[0] - half, centre[0] + half)
    inset.set_ylim(centre[1] - half, centre[1] + half)
    inset.set_aspect("equal")
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_title(f"zoom ×{1.0 / (2.0 * half):.0f}", fontsize="small")
    length = scale_bar_length(2.0 * half)
    inset.add_artist(AnchoredSizeBar(inset.transData, length, f"{length:g} change of frequency\n(along a side)",
                                     "lower left", frameon=False, size_vertical=0, fontproperties={"size": 7},
                                     pad=0.3, sep=3))
    ax.indicate_inset_zoom(inset, edgecolor="0.4")


def scale_bar_length(width: float) -> float:
    """A round length (1, 2 or 5 times a power of ten) of about a quarter of ``width``: a
    distance ``L`` parallel to a side of the triangle is a change ``L`` of two frequencies."""
    target = width / 4.0
    power = 10.0 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def simplex_figure(result: EMResult, se: StandardErrors | None = None, title: str = "", level: float = 0.95) -> Figure:
    """Figure of :func:`plot_simplex` alone."""
    figure = Figure(figsize=(8.5, 6), layout="constrained")
    plot_simplex(result, figure.add_subplot(), se, level)
    figure.suptitle(title)
    return figure


def simplex_convergence_figure(result: EMResult, se: StandardErrors | None = None, title: str = "",
                               level: float = 0.95) -> Figure:
    """Parameter paths, log-likelihood trace and the simplex path (with the region if ``se``)."""
    figure = Figure(figsize=(19, 5.4), layout="constrained")
    left, middle, right = figure.subplots(1, 3, width_ratios=[1, 1, 1.5])
    plot_parameter_paths(result, left)
    plot_loglik(result, middle)
    plot_simplex(result, right, se, level)
    figure.suptitle(title)
    return figure
