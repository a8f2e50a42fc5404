"""
Latent class analysis: mixtures of Bernoulli and categorical items
==================================================================

Latent class analysis explains the associations among categorical answers by a few unobserved
groups: within a class the items are independent, and all their correlation comes from the mix
of classes (*local independence*). It is a finite mixture whose components are products of
Bernoulli (yes/no) and categorical distributions, fitted by EM like any other.

:class:`emkit.Mixture` fits a mixture of any :mod:`emkit.families` family; a mapping of column
groups to families builds mixed rows. Here 1,000 simulated patients report six symptoms (yes or
no) and an age group (three levels). Three classes generated them: a flu-like illness with
fever and cough (30%), a migraine-like one with headache and fatigue (25%), and the healthy
(45%), who seldom report anything.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import emkit
from emkit import families

# sphinx_gallery_thumbnail_number = 2

SYMPTOMS = ["cough", "fever", "fatigue", "headache", "sore throat", "aches"]
AGE_GROUPS = ["under 30", "30 to 60", "over 60"]
CLASSES = ["flu-like", "migraine-like", "healthy"]
TRUE_WEIGHTS = np.array([0.30, 0.25, 0.45])
TRUE_SYMPTOMS = np.array([[0.9, 0.8, 0.7, 0.3, 0.6, 0.7],
                          [0.2, 0.1, 0.7, 0.8, 0.1, 0.5],
                          [0.1, 0.05, 0.1, 0.1, 0.1, 0.1]])
TRUE_AGES = np.array([[0.2, 0.5, 0.3], [0.5, 0.4, 0.1], [0.4, 0.4, 0.2]])

rng = np.random.default_rng(0)
true_class = rng.choice(3, 1000, p=TRUE_WEIGHTS)
answers = pd.DataFrame((rng.random((1000, 6)) < TRUE_SYMPTOMS[true_class]).astype(float), columns=SYMPTOMS)
answers["age group"] = [rng.choice(3, p=TRUE_AGES[k]) for k in true_class]  # codes 0, 1, 2
print(answers.head())
print("\nshare reporting each symptom:", answers[SYMPTOMS].mean().round(3).to_dict())

# %%
# How many classes?
# -----------------
# Fit one to four classes, each from five starts (latent class likelihoods have local maxima),
# and compare BIC. The family mapping says which columns are Bernoulli and which categorical.


def latent_class_model(k):
    return emkit.Mixture(k, family={tuple(SYMPTOMS): families.Bernoulli, "age group": families.Categorical([3])},
                         n_init=5, tol=1e-6, max_iter=2000, random_state=0)


fits = {k: latent_class_model(k).fit(answers) for k in range(1, 5)}
bic = {k: m.bic(answers) for k, m in fits.items()}
for k, m in fits.items():
    print(f"{k} classes: log-likelihood {m.score(answers) * len(answers):10.2f}   "
          f"parameters {m.model_.n_free_parameters():>3}   BIC {bic[k]:.2f}")
best_k = min(bic, key=bic.get)
print(f"BIC chooses {best_k} classes")

fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
ax.plot(list(bic), list(bic.values()), "o-")
ax.plot(best_k, bic[best_k], "o", markersize=14, fillstyle="none", color="black", label=f"lowest: {best_k} classes")
ax.set_xlabel("number of latent classes")
ax.set_ylabel("BIC (lower is better)")
ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
ax.set_title("Choosing the number of classes")
ax.legend()

# %%
# The classes
# -----------
# The fitted parameters are attributes named after their column groups. Classes come in no
# particular order, so each is named after the true class it overlaps most. Standard errors
# come from Louis's method, as for any emkit model.

model = fits[3]
symptom_probs = model.params_[",".join(SYMPTOMS) + ":probs"]   # (3 classes, 6 symptoms)
age_probs = model.params_["age group:probs"]                   # (3 classes, 3 age groups)
fitted_class = model.predict(answers)
overlap = pd.crosstab(fitted_class, true_class).to_numpy()
name_of = {j: CLASSES[int(np.argmax(overlap[j]))] for j in range(3)}
order = [next(j for j in range(3) if name_of[j] == c) for c in CLASSES]
errors = emkit.standard_errors(model.result_, answers, method="louis").se
symptom_se = np.asarray(errors[",".join(SYMPTOMS) + ":probs"])

print(f"{'class':<15}{'weight':>8}{'true':>7}   " + "".join(f"{s[:11]:>12}" for s in SYMPTOMS))
for c, j in enumerate(order):
    print(f"{CLASSES[c]:<15}{model.weights_[j]:>8.3f}{TRUE_WEIGHTS[c]:>7.2f}   "
          + "".join(f"{p:>6.2f}±{s:<5.2f}" for p, s in zip(symptom_probs[j], symptom_se[j])))
print("\nfitted class (rows) against the true class (columns):")
print(pd.crosstab(pd.Categorical([name_of[j] for j in fitted_class], categories=CLASSES),
                  pd.Categorical([CLASSES[k] for k in true_class], categories=CLASSES),
                  rownames=["fitted"], colnames=["true"]))

# %%
# The profile plot of latent class analysis: the probability of each answer in each class,
# with 95% intervals (± 1.96 standard errors), the true probabilities as open circles. Right:
# the age mix of each class.

colours = ["tab:red", "tab:purple", "tab:green"]
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), width_ratios=[2.2, 1], layout="constrained")
positions = np.arange(len(SYMPTOMS))
for c, j in enumerate(order):
    shift = (c - 1) * 0.2
    left.errorbar(positions + shift, symptom_probs[j], yerr=1.96 * symptom_se[j], fmt="o-", capsize=3,
                  color=colours[c], label=f"{CLASSES[c]} (weight {model.weights_[j]:.2f})")
    left.plot(positions + shift, TRUE_SYMPTOMS[c], "o", fillstyle="none", markersize=9, color=colours[c])
left.plot([], [], "o", fillstyle="none", color="0.4", markersize=9, label="true probability")
left.set_xticks(positions, SYMPTOMS)
left.set_ylim(-0.05, 1.02)
left.set_ylabel("probability of reporting the symptom")
left.set_title("Symptom profiles of the three latent classes", fontsize="medium")
left.legend(fontsize="small", loc="upper right")

bottom = np.zeros(3)
for g, (group, shade) in enumerate(zip(AGE_GROUPS, ["0.85", "0.6", "0.35"])):
    share = age_probs[order, g]
    right.bar(CLASSES, share, bottom=bottom, color=shade, label=group)
    bottom += share
right.set_ylabel("share of the class")
right.set_title("Age groups within each class", fontsize="medium")
right.legend(title="age group", fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
