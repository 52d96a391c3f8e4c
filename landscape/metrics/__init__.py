"""Metrics of width and smoothness: of surfaces and slices (numpy), of models (Hessian, dead units),
and their statistics.
"""
