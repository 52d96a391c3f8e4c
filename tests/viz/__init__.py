"""Tests of landscape.viz."""
