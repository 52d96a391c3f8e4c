"""Tests of landscape.studies.depth."""
