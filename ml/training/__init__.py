"""The shared training machinery (knows no method).

    loop       TrainingTask (what a method's Trainer implements), TrainingLoop (resume, logs,
               progress, samples, evaluation, checkpoints, clean stop), seed_everything
    data       InMemoryBatches, BatchStream, images_to_tensor / tensor_to_images
    precision  autocast(precision), prepare_network / prepare_input (channels-last)
    images     make_grid, save_png
    cli        `python -m ml train METHOD --preset starter --data synthetic|PATH --out runs/NAME`
"""
from ml.training.data import BatchStream, ImageAttributeSet, InMemoryBatches, images_to_tensor, tensor_to_images
from ml.training.loop import TrainingLoop, TrainingTask, preserved_rng, seed_everything

__all__ = ["BatchStream", "ImageAttributeSet", "InMemoryBatches", "TrainingLoop", "TrainingTask", "images_to_tensor",
           "preserved_rng", "seed_everything", "tensor_to_images"]
