"""HomoInterpGAN (Chen et al., "Homomorphic Latent Space Interpolation for Unpaired
Image-to-image Translation", CVPR 2019): edit a face by moving its encoder features toward a
reference's along learned per-group interpolators, one slider per attribute group."""
from ml.methods.base import Method
from ml.methods.homointerp.config import Config
from ml.methods.homointerp.editor import HomoInterpEditor
from ml.methods.homointerp.training import Trainer

Editor = HomoInterpEditor

METHOD = Method(
    name="homointerp",
    title="HomoInterpGAN",
    summary="Per-group sliders that move a face toward a reference image (or a group's mean "
            "reference) in the encoder's feature space; 1 takes the attribute, 2 exaggerates.",
    config_class=Config,
    editor_class=HomoInterpEditor,
    trainer_class=Trainer,
    alignment="celeba",
)

__all__ = ["Config", "Editor", "HomoInterpEditor", "METHOD", "Trainer"]
