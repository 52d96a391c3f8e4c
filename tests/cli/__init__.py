"""Tests of landscape.cli."""
