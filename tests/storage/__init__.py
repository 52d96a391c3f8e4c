"""Tests of landscape.storage."""
