"""Tests of landscape.training."""
