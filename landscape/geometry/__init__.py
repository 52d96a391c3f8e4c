"""Geometry of the weight space: filter-normalised directions and the grids of points along them."""
