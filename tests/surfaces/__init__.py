"""Tests of landscape.surfaces."""
