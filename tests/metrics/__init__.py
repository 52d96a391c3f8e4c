"""Tests of landscape.metrics."""
