"""Tests of landscape.sources."""
