"""Issue 14, "figures worth putting in a paper": every CLI figure is written, in the format its
extension names, through the real ``emkit`` entry point; the numbers drawn (variance explained,
misassigned rows, decoding match rate, the log-likelihood gap) are checked against direct
computations."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from cli_runner import emkit

from emkit.plotting.convergence import parameter_blocks, plot_loglik
from emkit.plotting.matching import agreement, disagreement, match_labels
from emkit.plotting.mixture import Projection, plot_bic

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}


def assert_figure(path) -> None:
    """``path`` holds a figure in the format its extension names."""
    data = path.read_bytes()
    if path.suffix == ".svg":
        assert b"<svg" in data[:2000] and data.rstrip().endswith(b"</svg>")
    else:
        assert data.startswith(MAGIC[path.suffix])
    assert len(data) > 5_000


@pytest.fixture(scope="module")
def groups_csv(tmp_path_factory):
    """Three labelled groups in three columns with a text label column (like iris)."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 1.0], [0.0, 4.0, 2.0]])
    X = np.vstack([rng.normal(c, 0.7, size=(40, 3)) for c in centres])
    names = np.repeat(["setosa", "versicolor", "virginica"], 40)
    path = tmp_path_factory.mktemp("figures") / "groups.csv"
    lines = ["a,b,c,species"] + [f"{x:.4f},{y:.4f},{z:.4f},{s}" for (x, y, z), s in zip(X, names)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gmm_figures_with_label_in_each_format(groups_csv, tmp_path):
    svg = tmp_path / "clusters.svg"
    r = emkit("gmm", groups_csv, "-k", "3", "--label", "species", "--plot", svg)
    assert r.returncode == 0, r.stderr
    assert_figure(svg)
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr
    pdf = tmp_path / "select.pdf"
    r = emkit("gmm", groups_csv, "--select", "1:3", "--covariance", "full,spherical", "--label", "species",
              "--plot", pdf)
    assert r.returncode == 0, r.stderr
    assert_figure(pdf)


def test_gmm_one_column_gets_a_histogram(groups_csv, tmp_path):
    png = tmp_path / "one.png"
    r = emkit("gmm", groups_csv, "-k", "2", "--columns", "a", "--label", "species", "--plot", png)
    assert r.returncode == 0, r.stderr
    assert_figure(png)


def test_bad_plot_extension_and_label_are_one_line_before_the_fit(groups_csv, tmp_path):
    r = emkit("gmm", groups_csv, "-k", "3", "--plot", tmp_path / "clusters.jpg")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--plot" in r.stderr and ".png" in r.stderr and not r.stdout
    assert not (tmp_path / "clusters.jpg").exists() and not (tmp_path / "clusters.jpg.png").exists()
    r = emkit("gmm", groups_csv, "-k", "3", "--label", "kind", "--plot", tmp_path / "p.png")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--label" in r.stderr and "'kind'" in r.stderr


def test_hmm_figure_with_named_sequences_and_label(tmp_path):
    rng = np.random.default_rng(1)
    states = np.repeat([0, 1, 0, 1], 30)
    rows = [f"2020-01-{1 + t % 28:02d},{'AAA' if t < 60 else 'BBB'},{rng.normal(3 * s, 1):.4f},"
            f"{rng.normal(-s, 0.5):.4f},{'calm' if s == 0 else 'wild'}" for t, s in enumerate(states)]
    path = tmp_path / "series.csv"
    path.write_text("date,asset,logret,volume,regime\n" + "\n".join(rows) + "\n")
    png = tmp_path / "states.png"
    r = emkit("hmm", path, "-k", "2", "--sequence", "asset", "--label", "regime", "--plot", png)
    assert r.returncode == 0, r.stderr
    assert_figure(png)


def test_student_and_alleles_figures(groups_csv, tmp_path):
    png = tmp_path / "student.png"
    r = emkit("student", groups_csv, "-k", "2", "--columns", "a,b", "--max-iter", "50", "--plot", png)
    assert r.returncode == 0, r.stderr
    assert "tight" not in r.stderr and "Warning" not in r.stderr
    assert_figure(png)
    pdf = tmp_path / "moth.pdf"
    r = emkit("alleles", "moth", "carbonaria=85", "insularia=196", "typica=341", "--se", "louis", "--plot", pdf)
    assert r.returncode == 0, r.stderr
    assert_figure(pdf)


# ----------------------------------------------------------------- the numbers drawn


def test_principal_axes_explain_the_variance_sklearn_reports():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    np.testing.assert_allclose(Projection(X, standardize=False).explained,
                               PCA(2).fit(X).explained_variance_ratio_, rtol=1e-10)
    X[:, 0] *= 1000.0   # scales differ by far more than SCALE_RATIO: standardized
    projection = Projection(X)
    assert projection.standardized and "standardized" in projection.labels[0]
    np.testing.assert_allclose(projection.explained,
                               PCA(2).fit(StandardScaler().fit_transform(X)).explained_variance_ratio_, rtol=1e-10)
    assert f"{projection.explained[0]:.1%} of variance" in projection.labels[0]


def test_misassigned_rows_are_those_of_the_best_relabelling():
    rng = np.random.default_rng(3)
    for _ in range(20):
        truth = rng.choice(["a", "b", "c"], size=30)
        labels = rng.integers(0, rng.integers(2, 5), size=30)
        best = max(sum(perm[label] == ref for label, ref in zip(labels, truth) if label < len(perm))
                   for perm in itertools.permutations(["a", "b", "c", None, None][: max(3, labels.max() + 1)]))
        wrong = disagreement(truth, labels)
        assert int((~wrong).sum()) == best
        assert agreement(truth, labels) == pytest.approx(best / 30)
    assert match_labels(np.array([5, 5, 7]), np.array([1, 1, 0])) == {1: 5, 0: 7}


def test_casino_window_and_match_rate():
    from emkit.demo.casino import telling_window

    rng = np.random.default_rng(4)
    truth = (rng.random(1000) < 0.3).astype(int)
    decoded = np.where(rng.random(1000) < 0.8, truth, 1 - truth)
    shown = telling_window(truth, decoded, size=200, step=50)
    scores = [min(int(np.sum((decoded == truth)[s:s + 200] & (truth[s:s + 200] == 1))),
                  int(np.sum(decoded[s:s + 200] != truth[s:s + 200]))) for s in range(0, 801, 50)]
    assert shown.start == 50 * int(np.argmax(scores)) and shown.stop - shown.start == 200
    assert agreement(truth, decoded) == pytest.approx(np.mean(decoded == truth))


def test_loglik_gap_leaves_out_round_off():
    from matplotlib.figure import Figure

    final = -600.0
    loglik = [final - 100.0, final - 1.0, final - 1e-6, final - 3e-14, final + 2e-14, final]
    ax = Figure().add_subplot()
    plot_loglik(SimpleNamespace(trace=SimpleNamespace(loglik=loglik)), ax)
    drawn = ax.lines[0]
    assert list(drawn.get_xdata()) == [0, 1, 2]
    np.testing.assert_allclose(drawn.get_ydata(), [100.0, 1.0, 1e-6], rtol=1e-6)
    assert ax.get_yscale() == "log"
    inset = ax.child_axes[0]
    assert inset.get_xlabel() == "iteration" and inset.get_ylabel() == "ℓ(t)"


def test_parameter_blocks_keep_each_scatter_pair_once():
    scatter = np.array([[2.0, 0.5], [0.5, 1.0]])
    params = [{"dof": 5.0 + t, "location": [0.0, t], "scatter": (scatter * (1 + t)).tolist()} for t in range(3)]
    model = SimpleNamespace(named_params=lambda p: p)
    blocks = parameter_blocks(SimpleNamespace(model=model, trace=SimpleNamespace(params=params)))
    assert [name for name, _, _ in blocks] == ["", "location", "scatter"]
    assert blocks[2][1] == ["scatter[0,0]", "scatter[0,1]", "scatter[1,1]"]
    np.testing.assert_allclose(blocks[2][2][-1], [6.0, 1.5, 3.0])


def test_bic_panel_is_not_flattened_by_one_bad_family():
    from matplotlib.figure import Figure

    table = [{"covariance_type": "full", "n_components": k, "bic": 600.0 + 10 * (k - 2) ** 2} for k in range(1, 6)]
    table += [{"covariance_type": "spherical", "n_components": k, "bic": 650.0 + 5 * k} for k in range(2, 6)]
    table += [{"covariance_type": "spherical", "n_components": 1, "bic": 5000.0}]
    ax = Figure().add_subplot()
    plot_bic(ax, table)
    assert ax.get_ylim()[1] < 1000.0
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_student_mixture_convergence_figure_has_a_panel_per_block():
    import io
    import warnings

    from emkit.models.student_mixture import StudentMixtureModel
    from emkit.plotting.convergence import convergence_figure
    from emkit.variants.ecm import fit_ecm

    rng = np.random.default_rng(5)
    X = np.vstack([rng.standard_t(5, size=(60, 3)), rng.standard_t(5, size=(60, 3)) + 6.0])
    result = fit_ecm(StudentMixtureModel(2, "full"), X, variant="ecme", tol=1e-4, max_iter=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = convergence_figure(result, title="t mixture")
        figure.savefig(io.BytesIO(), format="png")
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible() and ax.get_title()]
    assert {"weights", "locations", "scatters", "dofs"} <= set(titles)
    scatters = next(ax for ax in figure.axes if ax.get_title() == "scatters")
    assert len([line for line in scatters.lines if line.get_marker() == "o"]) == 2 * 6   # each pair once
    for ax in figure.axes:
        legend = ax.get_legend()
        assert legend is None or len(legend.get_texts()) <= 8
