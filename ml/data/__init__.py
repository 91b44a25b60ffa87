"""Data for FaceLab: the synthetic face world (`ml.data.world`), dataset readers and exporters,
real-face alignment (`ml.data.align`), identity distance (`ml.data.identity`) and data fingerprints.

Submodules are imported on use; importing `ml.data` itself loads nothing heavy.
"""
