"""Demo section: the occasionally dishonest casino (Durbin, Eddy, Krogh & Mitchison 1998, §3.2).

A casino mostly rolls a fair die but sometimes switches to a loaded one (a six half of the time);
only the rolls are seen. A two-state categorical HMM fitted by Baum–Welch recovers the switching
and loading probabilities, and Viterbi decoding finds when the loaded die was in play.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..estimators.hmm import CategoricalHMM
from ..plotting.convergence import loglik_figure
from ..plotting.hmm import hmm_figure
from ..plotting.output import save_figure

SEED = 1
N_ROLLS = 3000
#: Rolls shown in the decoding figure.
SHOWN = 400
FACES = np.arange(1, 7)
STATES = ("fair", "loaded")
TRUTH = {
    "startprob": np.array([1.0, 0.0]),
    "transmat": np.array([[0.95, 0.05], [0.10, 0.90]]),
    "emissionprob": np.array([np.full(6, 1 / 6), [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]]),
}


def simulate(n_rolls: int = N_ROLLS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Rolls (faces 0..5 for 1..6, shape (n, 1)) and the die used (0 fair, 1 loaded)."""
    casino = CategoricalHMM(2, random_state=seed)
    casino.startprob_, casino.transmat_, casino.emissionprob_ = (TRUTH[name] for name in
                                                                 ("startprob", "transmat", "emissionprob"))
    return casino.sample(n_rolls)


def telling_window(truth: np.ndarray, decoded: np.ndarray, size: int = SHOWN, step: int = 50) -> slice:
    """The window of ``size`` steps (starting at a multiple of ``step``) that best shows what
    decoding gets right and wrong: the one maximising ``min(steps of state 1 decoded right, steps
    decoded wrong)`` (the first such window on ties)."""
    truth, decoded = np.asarray(truth), np.asarray(decoded)
    right = np.concatenate([[0], np.cumsum((decoded == truth) & (truth == 1))])
    wrong = np.concatenate([[0], np.cumsum(decoded != truth)])
    starts = np.arange(0, len(truth) - size + 1, step)
    score = np.minimum(right[starts + size] - right[starts], wrong[starts + size] - wrong[starts])
    best = int(starts[np.argmax(score)])
    return slice(best, best + size)


def run(out: Path) -> str:
    """Simulate the casino, fit the HMM, decode, write the figures, return the report section."""
    rolls, dice = simulate()
    model = CategoricalHMM(2, n_init=5, random_state=SEED, n_iter=5000, tol=1e-8).fit(rolls)
    order = np.argsort(model.emissionprob_[:, 5])  # the loaded die is the state that favours six
    transmat = model.transmat_[np.ix_(order, order)]
    emission = model.emissionprob_[order]
    relabel = np.argsort(order)
    _, posteriors = model.score_samples(rolls)
    posteriors = posteriors[:, order]
    viterbi = relabel[model.predict(rolls)]
    marginal = posteriors.argmax(axis=1)
    shown = telling_window(dice, viterbi)
    match = np.mean(viterbi == dice)
    figure = hmm_figure(rolls[shown], viterbi[shown], posteriors[shown], categorical=True, truth=dice[shown],
               feature_labels=["roll"], state_labels=list(STATES), symbols=list(FACES), first_step=shown.start,
               title=f"Dishonest casino: rolls {shown.start}-{shown.stop - 1} of {N_ROLLS}, Viterbi path shaded",
               note=f"the Viterbi path names the die correctly for {match:.1%} of all {N_ROLLS} rolls "
                    f"({np.mean(viterbi[shown] == dice[shown]):.1%} of the rolls shown)")
    figure.axes[-1].set_xlabel("roll number")
    save_figure(figure, out / "casino_decoding.png")
    save_figure(loglik_figure(model.result_, title="Dishonest casino: log-likelihood by Baum-Welch iteration"),
                out / "casino_loglik.png")
    rows = ["| probability | true | fitted |", "|---|---:|---:|"]
    for i, a in enumerate(STATES):
        for j, b in enumerate(STATES):
            rows.append(f"| {a} → {b} | {TRUTH['transmat'][i, j]:.3f} | {transmat[i, j]:.3f} |")
    for i, a in enumerate(STATES):
        for face in FACES:
            rows.append(f"| {a} die shows {face} | {TRUTH['emissionprob'][i, face - 1]:.3f} | "
                        f"{emission[i, face - 1]:.3f} |")
    loaded_share = float(np.mean(dice))
    return "\n".join([
        "## The occasionally dishonest casino: a hidden Markov model\n",
        (f"{N_ROLLS} rolls were simulated from the casino of Durbin et al. (1998): the croupier switches from "
         f"the fair die to a loaded one (six with probability 1/2) with probability 0.05 after each roll and "
         f"back with probability 0.10; the loaded die was in play for {loaded_share:.1%} of the rolls. "
         f"Only the rolls were given to `CategoricalHMM(2)`, fitted by Baum-Welch (5 starts, best kept, "
         f"{model.n_iter_} iterations, log-likelihood {model.lower_bounds_[-1]:.4f}).\n"),
        *rows, "",
        (f"Decoding: the Viterbi path names the die correctly for {match:.1%} of the rolls, "
         f"the most probable die of each roll (posterior decoding) for {np.mean(marginal == dice):.1%}. "
         f"The figure shows rolls {shown.start}-{shown.stop - 1}, a window of {SHOWN} rolls with both loaded stretches "
         f"decoded right and decoding errors (Viterbi right for {np.mean(viterbi[shown] == dice[shown]):.1%} "
         "of them).\n"),
        "![rolls with the decoded die shaded, the true die, and the posterior](casino_decoding.png)\n",
        "![log-likelihood by iteration](casino_loglik.png)\n",
    ])
