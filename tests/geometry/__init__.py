"""Tests of landscape.geometry."""
