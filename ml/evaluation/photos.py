"""Real photos through an editor, as the app shows them: aligned the way the method expects at the
app's crop size, edited at the model's size, an edit in place laid on the crop (`lay_change_on`),
and measured with dlib's face descriptor (a network no method trained against), distance to the
original crop. dlib calls two faces the same person below a distance of 0.6."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

PHOTOS = (Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "faces" / "astronaut.jpg",)


def captioned(image: np.ndarray, caption: str, height: int = 14) -> np.ndarray:
    """The image with a white strip below it holding `caption`."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (image.shape[1], image.shape[0] + height), "white")
    canvas.paste(Image.fromarray(image), (0, 0))
    ImageDraw.Draw(canvas).text((2, image.shape[0] + 1), caption, fill="black")
    return np.asarray(canvas)


def edit_photos(editor, edit_fn, out_path, photos=PHOTOS) -> dict:
    """Run `edit_fn(editor, aligned_crop) -> [(label, image)]` on each photo; write one row per
    photo (original, then the edits, captioned with the dlib distance) and return the distances."""
    from ml.data.align import CROP_SIZES, align_face, resize_square
    from ml.data.identity import face_embedding, identity_distance
    from ml.methods.base import lay_change_on
    from ml.training.images import make_grid, save_png

    rows, results = [], {}
    in_place = editor.edits_in_place({})
    for photo in photos:
        aligned = align_face(str(photo), style=editor.alignment,
                             size=max(CROP_SIZES[editor.alignment], editor.image_size))
        small = resize_square(aligned.crop, editor.image_size)
        tiles = [captioned(aligned.crop, "original")]
        distances, original = {}, None
        for label, image in edit_fn(editor, small):
            shown = lay_change_on(aligned.crop, small, image) if in_place else resize_square(image, aligned.size)
            # the edit keeps the face where it was, so the crop's landmarks still locate it
            edited = dataclasses.replace(aligned, crop=np.ascontiguousarray(shown))
            try:
                original = face_embedding(aligned) if original is None else original
                distance = identity_distance(original, face_embedding(edited))
            except Exception as error:  # dlib could not describe it: say so rather than fail the eval
                distance = float("nan")
                print(f"  dlib could not describe {label} on {photo.name}: {error}")
            distances[label] = distance
            tiles.append(captioned(shown, f"{label[:11]} {distance:.2f}"))
        rows.append(np.stack(tiles))
        results[photo.name] = distances
    path = save_png(make_grid(rows), out_path)
    return {"figure": str(path), "dlib_distance": results}
