"""Scoring a model at many weight settings: loss and accuracy, the model contract, BatchNorm folding,
the evaluators and their tuning.
"""
