"""Tests of landscape.studies."""
