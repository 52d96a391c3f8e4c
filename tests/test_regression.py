"""A seeded tiny surface pinned to stored numbers, so any change in the engine's results shows.

Rewrite the expected values only on purpose: LANDSCAPE_UPDATE_EXPECTED=1 python -m pytest tests/test_regression.py
"""
import json
import os
from pathlib import Path

import numpy as np
import torch

from landscape import activation_factory, resnet
from landscape.evaluation.evaluate import EvalSet, prepare_inputs
from landscape.geometry.directions import random_directions
from landscape.geometry.grid import Axis, Grid
from landscape.geometry.options import DirectionOptions
from landscape.surfaces.in_memory import compute_surface
from tests.helpers import synthetic_images

EXPECTED = Path(__file__).parent / "expected" / "tiny_surface.json"


def tiny_surface() -> dict[str, list]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = resnet(8, activation_factory("mish"))
    images = synthetic_images(3, seed=5)
    sets = [EvalSet("test", prepare_inputs(images.images, torch.device("cpu")), images.labels)]
    directions = random_directions(model, DirectionOptions(seed=1), 2)
    grid = Grid(Axis.parse("-1:1:3"), Axis.parse("-0.5:0.5:2"))
    return {k: v.tolist() for k, v in compute_surface(model, directions, sets, grid, quiet=True).items()}


def test_tiny_surface_matches_stored_values():
    values = tiny_surface()
    if os.environ.get("LANDSCAPE_UPDATE_EXPECTED") == "1":
        EXPECTED.write_text(json.dumps(values, indent=1) + "\n")
    expected = json.loads(EXPECTED.read_text())
    assert set(values) == set(expected)
    for name in expected:
        np.testing.assert_allclose(values[name], expected[name], rtol=1e-5, err_msg=name)
