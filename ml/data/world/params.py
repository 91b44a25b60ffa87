"""What a face is: identity shape, attribute intensities and styles, pose and scene.

A `FaceParams` batch holds plain numpy arrays. Identity fields come from the identity id alone
(so one person re-renders identically under any other change); the per-image fields (expression,
grooming, accessories, pose, light) come from the sampling seed.
"""
from __future__ import annotations

import dataclasses

import numpy as np

ATTRIBUTES = (
    "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Bangs",
    "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald", "Receding_Hairline",
    "Wavy_Hair", "Straight_Hair", "Male", "No_Beard", "Mustache", "Goatee", "Sideburns",
    "Young", "Heavy_Makeup", "Wearing_Lipstick", "Pale_Skin", "Arched_Eyebrows",
    "Bushy_Eyebrows", "Narrow_Eyes", "Big_Nose", "Big_Lips", "Bags_Under_Eyes", "Chubby",
)
ATTRIBUTE_INDEX = {name: i for i, name in enumerate(ATTRIBUTES)}

# Style ids per styled attribute (the id is the index in the tuple).
STYLES = {
    "Eyeglasses": ("round", "rectangular", "thick", "sunglasses"),
    "Eyeglasses_color": ("black", "gold", "silver", "tortoise", "red"),
    "Bangs": ("full", "side_swept", "thin", "curtain"),
    "Wearing_Lipstick": ("red", "pink", "plum", "coral"),
    "Heavy_Makeup": ("brown", "blue", "purple", "green"),
}
# The attribute whose label says whether a style key is shown (-1 in RenderBatch.styles if not).
STYLE_OWNER = {"Eyeglasses_color": "Eyeglasses"}


# Intensities an edit's truth gives an attribute it switches: well inside the "present" (> 0.6)
# and "absent" (< 0.3) ranges the sampler draws from.
PRESENT, ABSENT = 0.9, 0.1


def style_keys(attribute: str) -> list[str]:
    """The style keys an attribute shows (Eyeglasses: shape and colour)."""
    return [key for key in STYLES if STYLE_OWNER.get(key, key) == attribute]


# Only one of these is on at a time; `with_attribute` switches the others off.
EXCLUSIVE_GROUPS = (
    ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"),
    ("Wavy_Hair", "Straight_Hair"),
)

# Identity shape fields, each roughly uniform in [-1, 1] (tone, length in [0, 1]).
IDENTITY_FIELDS = (
    "head_width", "head_height", "head_depth", "jaw_width", "jaw_length", "chin_length",
    "chin_width", "cheekbones", "brow_ridge", "eye_spacing", "eye_height", "eye_size",
    "eye_tilt", "iris_hue", "brow_height", "brow_length", "brow_tilt", "nose_length",
    "nose_width", "nose_projection", "nose_tip", "mouth_height", "mouth_width",
    "lip_thickness", "ear_size", "skin_tone", "skin_undertone", "hair_tint", "hair_length",
    "hair_part", "hair_volume", "hairline", "hair_phase", "neck_width", "gaze",
)
IDENTITY_INDEX = {name: i for i, name in enumerate(IDENTITY_FIELDS)}

# Nuisance fields of one image, uniform in [0, 1].
SCENE_FIELDS = (
    "light_azimuth", "light_elevation", "light_warmth", "light_strength", "ambient",
    "bg_hue", "bg_value", "bg_gradient", "cloth_hue", "cloth_value",
)
SCENE_INDEX = {name: i for i, name in enumerate(SCENE_FIELDS)}

# Attributes that belong to the person (drawn from the identity id); the rest vary per image.
IDENTITY_ATTRIBUTES = (
    "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald", "Receding_Hairline",
    "Wavy_Hair", "Straight_Hair", "Male", "Young", "Pale_Skin", "Arched_Eyebrows",
    "Bushy_Eyebrows", "Narrow_Eyes", "Big_Nose", "Big_Lips", "Bags_Under_Eyes", "Chubby",
)


@dataclasses.dataclass
class FaceParams:
    """A batch of faces. Arrays have the batch as their first axis."""

    identity: np.ndarray  # int64 [N]
    shape: np.ndarray  # float32 [N, len(IDENTITY_FIELDS)]
    intensities: np.ndarray  # float32 [N, len(ATTRIBUTES)] in [0, 1]
    styles: dict  # style key -> int64 [N], always a valid id (shown only when the attribute is on)
    pose: np.ndarray  # float32 [N, 3] yaw, pitch, roll in degrees
    scene: np.ndarray  # float32 [N, len(SCENE_FIELDS)]

    def __len__(self) -> int:
        return len(self.identity)

    def copy(self) -> "FaceParams":
        return FaceParams(
            self.identity.copy(), self.shape.copy(), self.intensities.copy(),
            {k: v.copy() for k, v in self.styles.items()}, self.pose.copy(), self.scene.copy(),
        )

    def __getitem__(self, index) -> "FaceParams":
        index = np.atleast_1d(np.arange(len(self))[index])
        return FaceParams(
            self.identity[index], self.shape[index], self.intensities[index],
            {k: v[index] for k, v in self.styles.items()}, self.pose[index], self.scene[index],
        )

    @staticmethod
    def concat(parts: list["FaceParams"]) -> "FaceParams":
        return FaceParams(
            np.concatenate([p.identity for p in parts]),
            np.concatenate([p.shape for p in parts]),
            np.concatenate([p.intensities for p in parts]),
            {k: np.concatenate([p.styles[k] for p in parts]) for k in parts[0].styles},
            np.concatenate([p.pose for p in parts]),
            np.concatenate([p.scene for p in parts]),
        )

    def labels(self) -> np.ndarray:
        """CelebA-style labels: +1 where the intensity is above one half, else -1."""
        return np.where(self.intensities > 0.5, 1, -1).astype(np.int8)

    def shown_styles(self) -> dict:
        """Style ids with -1 where their attribute is off."""
        labels = self.labels()
        shown = {}
        for key, ids in self.styles.items():
            owner = STYLE_OWNER.get(key, key)
            shown[key] = np.where(labels[:, ATTRIBUTE_INDEX[owner]] > 0, ids, -1).astype(np.int64)
        return shown

    def intensity(self, name: str) -> np.ndarray:
        return self.intensities[:, ATTRIBUTE_INDEX[name]]

    # -- counterfactuals -------------------------------------------------------------

    def with_attribute(self, name: str, value: float = 1.0, style: int | None = None) -> "FaceParams":
        """The same faces with one attribute's intensity (and optionally style) changed.

        Turning on one member of an exclusive group (hair colours, wavy/straight) turns the
        others off, so the change stays one visible change. Style keys of `STYLES` whose owner
        is another attribute (`Eyeglasses_color`) are set with `with_style`.
        """
        if name not in ATTRIBUTE_INDEX:
            raise KeyError(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
        out = self.copy()
        out.intensities[:, ATTRIBUTE_INDEX[name]] = np.float32(value)
        if value > 0.5:
            for group in EXCLUSIVE_GROUPS:
                if name in group:
                    for other in group:
                        if other != name:
                            column = out.intensities[:, ATTRIBUTE_INDEX[other]]
                            out.intensities[:, ATTRIBUTE_INDEX[other]] = np.minimum(column, 0.1)
        if style is not None:
            out = out.with_style(name, style)
        return out

    def with_style(self, key: str, style: int) -> "FaceParams":
        if key not in STYLES:
            raise KeyError(f"{key!r} has no styles; styled: {', '.join(STYLES)}")
        if not 0 <= int(style) < len(STYLES[key]):
            raise ValueError(f"{key} style must be in 0..{len(STYLES[key]) - 1}")
        out = self.copy()
        out.styles[key][:] = int(style)
        return out

    def with_pose(self, yaw: float | None = 0.0, pitch: float | None = 0.0,
                  roll: float | None = 0.0) -> "FaceParams":
        """The same faces at another pose (degrees); None keeps that angle."""
        out = self.copy()
        for axis, value in enumerate((yaw, pitch, roll)):
            if value is not None:
                out.pose[:, axis] = np.float32(value)
        return out

    def with_scene(self, **fields: float) -> "FaceParams":
        out = self.copy()
        for key, value in fields.items():
            out.scene[:, SCENE_INDEX[key]] = np.float32(value)
        return out
