"""Tests of landscape.evaluation."""
