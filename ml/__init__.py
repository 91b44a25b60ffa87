"""FaceLab's machine-learning package: plain PyTorch, never imports Django.

Layout (see ../shared/design.md):
    ml.runtime      thread counts and autocast, set once per process
    ml.controls     the controls-schema language every Editor speaks
    ml.methods.base the method contract (Config, Editor, Method)
    ml.registry     the one place that knows every method
    ml.checkpoints  safe weights + manifest
    ml.data         synthetic face world, dataset readers, face alignment
    ml.nets         building blocks shared by the methods
    ml.oracles      attribute / identity networks that grade the methods
"""

__version__ = "0.1.0"
