"""Training: the resumable training loop, its options, and many runs side by side in worker processes."""
