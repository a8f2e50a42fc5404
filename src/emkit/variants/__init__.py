"""EM variants: Monte Carlo EM, ECM/ECME and online EM drivers over the same models."""
