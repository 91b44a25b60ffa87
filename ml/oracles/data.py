"""Rendered faces for the oracles: several views of each identity, cached as .npz under data-cache/.

One set serves every oracle. Each identity is drawn `views` times: its shape and its own
attributes (hair colour, sex, age, ...) come from the identity id, while per-image attributes
(smile, glasses, beard, makeup), style ids, pose and light change from view to view. So the
attribute and style classifiers see varied faces, and the identity networks learn that one person
stays one person under yaw, light and accessories.

A set is rendered once (about 100 faces/s at 128 px on one thread), in chunks that are kept as
they finish: an interrupted render resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ml.checkpoints import fingerprint

CACHE_DIR = Path(__file__).resolve().parents[2] / "data-cache" / "oracles"
STYLE_KEYS = ("Bangs", "Eyeglasses", "Eyeglasses_color", "Wearing_Lipstick", "Heavy_Makeup")


def world_attributes() -> tuple[str, ...]:
    from ml.data.world.params import ATTRIBUTES

    return tuple(ATTRIBUTES)


def world_styles() -> dict[str, tuple[str, ...]]:
    from ml.data.world.params import STYLES

    return {key: tuple(STYLES[key]) for key in STYLE_KEYS if key in STYLES}


@dataclasses.dataclass
class FaceSet:
    """Rendered faces with everything the oracles learn from."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    attributes: np.ndarray  # int8 [N, A], CelebA's +-1, columns world_attributes()
    intensities: np.ndarray  # float32 [N, A] in [0, 1]
    styles: dict  # style key -> int64 [N], -1 where the attribute is off
    identity: np.ndarray  # int64 [N] identity ids
    pose: np.ndarray  # float32 [N, 3] yaw, pitch, roll (degrees)
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, rows) -> "FaceSet":
        return FaceSet(self.images[rows], self.attributes[rows], self.intensities[rows],
                       {key: value[rows] for key, value in self.styles.items()}, self.identity[rows],
                       self.pose[rows], self.fingerprint)

    @property
    def yaw(self) -> np.ndarray:
        return self.pose[:, 0]

    @staticmethod
    def concat(parts: list["FaceSet"]) -> "FaceSet":
        first = parts[0]
        return FaceSet(np.concatenate([p.images for p in parts]), np.concatenate([p.attributes for p in parts]),
                       np.concatenate([p.intensities for p in parts]),
                       {key: np.concatenate([p.styles[key] for p in parts]) for key in first.styles},
                       np.concatenate([p.identity for p in parts]), np.concatenate([p.pose for p in parts]),
                       first.fingerprint)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.stem + ".partial.npz")
        np.savez(temporary, images=self.images, attributes=self.attributes, intensities=self.intensities,
                 identity=self.identity, pose=self.pose, fingerprint=np.array(self.fingerprint),
                 **{f"style_{key}": value for key, value in self.styles.items()})
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "FaceSet":
        with np.load(path, allow_pickle=False) as archive:  # a data file never runs code
            styles = {name[len("style_"):]: archive[name] for name in archive.files if name.startswith("style_")}
            return cls(archive["images"], archive["attributes"], archive["intensities"], styles,
                       archive["identity"], archive["pose"], str(archive["fingerprint"]))


# --- rendering ------------------------------------------------------------------------------------

def render_params(params, size: int, backend: str = "auto") -> FaceSet:
    """Render world parameters with the synthetic world (its fast GL backend where it starts)."""
    from ml.data.world import FaceWorld

    image = np.asarray(FaceWorld(size=size, backend=backend).render(params).image, np.uint8)
    shown = params.shown_styles()
    return FaceSet(image, params.labels(), params.intensities.astype(np.float32),
                   {key: shown[key].astype(np.int64) for key in STYLE_KEYS if key in shown},
                   params.identity.astype(np.int64), params.pose.astype(np.float32))


def fast_renderer_available() -> bool:
    """Whether faces render quickly here (the world's GL backend starts), not only with the slow
    torch reference renderer."""
    from ml.data.world import FaceWorld

    return FaceWorld(size=32, backend="auto").backend == "gl"


def sample_views(identities: int, views: int, seed: int, correlation: float = 1.0):
    """`views` draws of each of `identities` people (people come from `seed`, shuffled order)."""
    from ml.data.world.sampler import identity_ids, sample_faces

    people = identity_ids(identities, seed)
    ids = np.repeat(people, views)
    ids = ids[np.random.default_rng([seed, 91]).permutation(len(ids))]
    return sample_faces(len(ids), seed=seed, identities=ids, correlation=correlation)


@dataclasses.dataclass(frozen=True)
class SetSpec:
    """What a cached set is: enough to re-render it exactly."""

    identities: int
    views: int
    size: int = 128
    seed: int = 0
    correlation: float = 1.0
    toggles: float = 0.0  # fraction of faces with one attribute switched (see `toggle_attributes`)
    toggle_focus: tuple = ()  # attributes that half of the switches pick from
    paired: bool = False  # the set holds every face twice: as drawn, and with its switch

    @property
    def name(self) -> str:
        toggled = f"-t{self.toggles:g}" if self.toggles else ""
        toggled += f"-f{len(self.toggle_focus)}" if self.toggle_focus else ""
        toggled += "-paired" if self.paired else ""
        return f"faces-{self.size}px-{self.identities}x{self.views}-seed{self.seed}-c{self.correlation:g}{toggled}"

    def fingerprint(self) -> str:
        fields = dataclasses.asdict(self)
        # sets made before a field existed keep their fingerprint
        for key, unset in (("toggles", 0.0), ("toggle_focus", ()), ("paired", False)):
            if fields[key] == unset:
                del fields[key]
        if "toggle_focus" in fields:
            fields["toggle_focus"] = list(fields["toggle_focus"])
        return fingerprint({"kind": "oracle-faces", **fields})


def build_set(spec: SetSpec, cache_dir: Path = CACHE_DIR, chunk: int = 256,
              log: Callable[[str], None] = print) -> FaceSet:
    """Render (or load from the cache) the set `spec` describes; resumable chunk by chunk."""
    final = cache_dir / f"{spec.name}.npz"
    if final.is_file():
        return FaceSet.load(final)
    parts_dir = cache_dir / f"{spec.name}.parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    (parts_dir / "spec.json").write_text(json.dumps(dataclasses.asdict(spec)))
    params = sample_views(spec.identities, spec.views, spec.seed, spec.correlation)
    if spec.toggles:
        switched = toggle_attributes(params, spec.toggles, spec.seed, spec.toggle_focus)
        params = type(params).concat([params, switched]) if spec.paired else switched
    total = len(params)
    parts = []
    import time

    for index, start in enumerate(range(0, total, chunk)):
        part_path = parts_dir / f"part-{index:04d}.npz"
        if part_path.is_file():
            parts.append(FaceSet.load(part_path))
            continue
        began = time.perf_counter()
        part = render_params(params[start:start + chunk], spec.size)
        part.save(part_path)
        parts.append(part)
        elapsed = time.perf_counter() - began
        log(f"rendered {min(start + chunk, total)}/{total} faces ({len(part) / elapsed:.1f}/s)")
    faces = FaceSet.concat(parts)
    faces.fingerprint = spec.fingerprint()
    faces.save(final)
    for path in parts_dir.iterdir():
        path.unlink()
    parts_dir.rmdir()
    return faces


def toggle_attributes(params, fraction: float, seed: int, focus: Sequence[str] = ()):
    """A `fraction` of the faces with one attribute switched: on where it was off, off where it
    was on (at an intensity inside the label's range, own style kept). The attribute is chosen
    uniformly, or for half of the faces among `focus` when that is given.

    These are the faces an editor makes, and the ones an evaluation oracle must read: a mustache
    on a face that would rarely have one. A sampler with realistic correlations shows so few that
    a classifier can read the attribute from its correlates (sex, for a mustache) and still score
    well on natural faces. A set that holds each face beside its switched copy (SetSpec.paired)
    leaves the correlates no use at all: the two differ in the attribute alone."""
    from ml.data.world.params import ATTRIBUTES, ATTRIBUTE_INDEX

    rng = np.random.default_rng([seed, 23])
    out = params.copy()
    chosen = np.flatnonzero(rng.random(len(params)) < fraction)
    attributes = rng.integers(len(ATTRIBUTES), size=len(chosen))
    levels = rng.random(len(chosen))
    if focus:
        # drawn after the others so that a set without focus keeps its faces
        focused = rng.random(len(chosen)) < 0.5
        picks = rng.integers(len(focus), size=len(chosen))
        attributes = np.where(focused, [ATTRIBUTE_INDEX[focus[k]] for k in picks], attributes)
    for row, attribute, level in zip(chosen, attributes, levels):
        name = ATTRIBUTES[attribute]
        present = out.intensities[row, ATTRIBUTE_INDEX[name]] > 0.5
        intensity = 0.25 * level if present else 0.65 + 0.35 * level
        # with_attribute also switches off the rest of an exclusive group (hair colours)
        out.intensities[row] = out[int(row)].with_attribute(name, float(intensity)).intensities[0]
    return out


def pose_ladder(identities: int, seed: int, yaws=(15, 30, 45, 60, 75), correlation: float = 1.0):
    """Per identity one frontal face and one face at each of `yaws` (random side), each view with
    its own expression, accessories and light: the faces of a verification-across-pose table."""
    params = sample_views(identities, 1 + len(yaws), seed, correlation)
    sides = np.random.default_rng([seed, 17]).choice([-1.0, 1.0], size=len(params))
    seen: dict[int, int] = {}
    for row, person in enumerate(params.identity.tolist()):
        view = seen.get(person, 0)
        seen[person] = view + 1
        params.pose[row, 0] = 0.0 if view == 0 else sides[row] * yaws[view - 1]
    return params
