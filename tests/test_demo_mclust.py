"""The demo report's mclust table: mclust's layout (G by model, BIC higher is better) and its choice."""

from emkit import GaussianMixture, datasets
from emkit.demo.gmm import MCLUST_COMPONENTS, SEED, mclust_section


def test_mclust_table_of_the_four_gaussians():
    X, _, _ = datasets.synthetic_gmm(400, random_state=SEED)
    section = mclust_section(X)
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[0] == "G" and len(header) == 15 and {"EII", "VEV", "EVE", "VVV"} <= set(header)
    body = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[0] for row in body] == [str(k) for k in MCLUST_COMPONENTS] == [str(k) for k in range(1, 10)]  # mclust's G
    # a cell is mclust's BIC (2ℓ − p log n) of that model fitted on its own from mclust's start
    fitted = GaussianMixture(4, covariance_type="VVV", init_params="hc", random_state=SEED).fit(X)
    assert body[3][header.index("VVV")] == f"{-fitted.bic(X):.2f}"
    # the highest cell is the selected model: four full-covariance Gaussians, as simulated
    best = max((float(cell), header[j], int(row[0])) for row in body for j, cell in enumerate(row) if j and cell != "NA")
    assert best[1:] == ("VVV", 4)
    assert "Selected: **VVV, 4 components**" in section
