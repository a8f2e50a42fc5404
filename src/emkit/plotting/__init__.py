"""Figures (matplotlib). Plotting reads fitted results and never fits."""
