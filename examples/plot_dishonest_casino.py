"""
The occasionally dishonest casino: decoding a hidden Markov model
=================================================================

A casino mostly rolls a fair die, but now and then the croupier switches to a loaded one that
shows a six half of the time (Durbin, Eddy, Krogh & Mitchison, *Biological Sequence Analysis*,
1998, §3.2). After each roll the croupier switches from the fair to the loaded die with
probability 0.05, and back with probability 0.10. We see only the rolls.

A two-state hidden Markov model with categorical emissions describes this exactly: the hidden
state is the die, the transition matrix is the croupier's habit, and each state has its own
probabilities of the six faces. :class:`emkit.CategoricalHMM` (hmmlearn's interface) fits it by
Baum–Welch, the EM algorithm for HMMs: the E-step is the forward–backward algorithm, which gives
the posterior probability of each die at each roll; the M-step re-estimates the probabilities
from the expected counts of transitions and faces.

Then we *decode*: which die was used when? Two answers: the Viterbi path (the single most
probable sequence of dice) and posterior decoding (the most probable die at each roll).
"""

import matplotlib.pyplot as plt
import numpy as np

import emkit

# sphinx_gallery_thumbnail_number = 2

FACES = np.arange(1, 7)
truth = emkit.CategoricalHMM(2, random_state=1)
truth.startprob_ = np.array([1.0, 0.0])  # the evening starts with the fair die
truth.transmat_ = np.array([[0.95, 0.05],
                            [0.10, 0.90]])
truth.emissionprob_ = np.array([np.full(6, 1 / 6),
                                [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]])
rolls, dice = truth.sample(2000)  # rolls: faces coded 0..5; dice: 0 fair, 1 loaded
print(f"{len(rolls)} rolls; the loaded die was used for {dice.mean():.1%} of them")
print("share of sixes:", f"{np.mean(rolls[:, 0] == 5):.3f}", "(a fair die: 0.167)")

# %%
# Fitting by Baum–Welch
# ---------------------
# Only the rolls are given to the model. EM finds a local maximum of the likelihood, so we run
# five random starts (``n_init=5``) and keep the best. ``tol`` bounds the change of the total
# log-likelihood between iterations, as in hmmlearn.

model = emkit.CategoricalHMM(2, n_init=5, n_iter=1000, tol=1e-6, random_state=1).fit(rolls)
print(f"converged: {model.monitor_.converged} after {model.n_iter_} iterations, "
      f"log-likelihood {model.score(rolls):.3f}")

# The states are unlabelled: call "loaded" the state that favours six.
loaded = int(np.argmax(model.emissionprob_[:, 5]))
order = [1 - loaded, loaded]  # fitted states in the order (fair, loaded)
transmat = model.transmat_[np.ix_(order, order)]
emission = model.emissionprob_[order]

print("\n                     true    fitted")
for i, a in enumerate(("fair", "loaded")):
    for j, b in enumerate(("fair", "loaded")):
        print(f"P({a:>6} -> {b:<6})  {truth.transmat_[i, j]:6.3f}  {transmat[i, j]:8.3f}")
print("\nP(face | die)    " + "  ".join(f"{face:>5}" for face in FACES))
for i, die in enumerate(("fair", "loaded")):
    print(f"{die:>6}, true    " + "  ".join(f"{p:5.3f}" for p in truth.emissionprob_[i]))
    print(f"{die:>6}, fitted  " + "  ".join(f"{p:5.3f}" for p in emission[i]))

# %%
# The fitted die probabilities beside the true ones: the loaded die's six stands out, and the
# other faces are estimated to within a few hundredths from 2,000 rolls of which only about a
# third came from the loaded die.

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True, layout="constrained")
width = 0.38
for ax, i, die in zip(axes, (0, 1), ("fair die", "loaded die")):
    ax.bar(FACES - width / 2, truth.emissionprob_[i], width, color="0.7", label="true")
    ax.bar(FACES + width / 2, emission[i], width, color="tab:red" if i else "tab:blue", label="fitted by EM")
    ax.set_xticks(FACES)
    ax.set_xlabel("face")
    ax.set_title(f"{die}: probability of each face")
    ax.legend(loc="upper left")
axes[0].set_ylabel("probability")

# %%
# Decoding
# --------
# ``predict`` gives the Viterbi path, ``predict_proba`` the posterior probability of each die at
# each roll given *all* the rolls. Both are compared with the dice actually used.

viterbi = np.array(order).argsort()[model.predict(rolls)]  # 0 fair, 1 loaded
posterior_loaded = model.predict_proba(rolls)[:, loaded]
posterior_decoding = (posterior_loaded > 0.5).astype(int)
print(f"Viterbi path names the die correctly for {np.mean(viterbi == dice):.1%} of the rolls")
print(f"posterior decoding names it correctly for {np.mean(posterior_decoding == dice):.1%}")
print("\nconfusion of the Viterbi path (rows: true die, columns: decoded)")
print("          fair  loaded")
for i, die in enumerate(("fair", "loaded")):
    print(f"{die:>6}  " + "  ".join(f"{np.sum((dice == i) & (viterbi == j)):>6}" for j in (0, 1)))

# %%
# The first 300 rolls. Top: each roll, on a background shaded where the loaded die was truly
# in use. Bottom: the posterior probability that the die is loaded, with the Viterbi path.
# Decoding finds the long loaded stretches; it misses the short ones, which a handful of rolls
# cannot tell from luck, and it starts and ends each stretch a few rolls late or early.

shown = slice(0, 300)
steps = np.arange(shown.start, shown.stop)
fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True, height_ratios=[1, 1.3],
                                  layout="constrained")
for ax in (top, bottom):
    ax.fill_between(steps, 0, 1, where=dice[shown] == 1, step="mid", color="tab:red", alpha=0.15,
                    transform=ax.get_xaxis_transform(), label="loaded die in use (truth)")
top.plot(steps, rolls[shown, 0] + 1, ".", color="black", markersize=4, label="roll")
top.set_yticks(FACES)
top.set_ylabel("face rolled")
top.legend(loc="upper right", ncol=2, fontsize="small", framealpha=0.9)
bottom.plot(steps, posterior_loaded[shown], color="tab:red", linewidth=1.2, label="posterior P(loaded | all rolls)")
bottom.step(steps, viterbi[shown], where="mid", color="black", linewidth=1.0, linestyle="--",
            label="Viterbi path (1 = loaded)")
bottom.set_ylim(-0.05, 1.05)
bottom.set_ylabel("probability / state")
bottom.set_xlabel("roll number")
bottom.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
bottom.legend(loc="upper right", fontsize="small", framealpha=0.9)
fig.suptitle(f"Dishonest casino, rolls {shown.start}–{shown.stop - 1}: decoded die against the truth")
