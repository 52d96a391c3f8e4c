"""Where models and data come from: activations, architectures, checkpoints, image data, dataset specs
and user code (`MODULE:CALLABLE`).
"""
