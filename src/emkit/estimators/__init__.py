"""scikit-learn / hmmlearn compatible estimator faces over emkit models and the engine."""
