"""Surfaces: planning a grid surface from a config, sweeping it into a resumable file, or scoring it in memory."""
