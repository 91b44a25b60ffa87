"""`python -m ml contact-sheet`: a PNG grid of the synthetic world's attributes x styles x yaw.

Each row is one person: the first image has the attribute off (frontal), the others have it on
at several yaws. Style rows (glasses frames and colours, bangs, lipstick) follow the attributes.
"""
from __future__ import annotations

import argparse
import pathlib


YAWS = (-60.0, -30.0, 0.0, 30.0, 60.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="docs/contact_sheet.png", help="PNG to write")
    parser.add_argument("--size", type=int, default=128, help="face image size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto", choices=("auto", "gl", "torch"))
    parser.add_argument("--columns", type=int, default=2, help="blocks of rows side by side")
    parser.add_argument("--threads", type=int, default=None, help="render threads")


def _neutral(params):
    """Plain faces, so each row shows one change."""
    for name, value in (("Eyeglasses", 0.0), ("Bangs", 0.0), ("No_Beard", 1.0), ("Mustache", 0.0),
                        ("Goatee", 0.0), ("Sideburns", 0.0), ("Bald", 0.0), ("Smiling", 0.0),
                        ("Mouth_Slightly_Open", 0.0)):
        params = params.with_attribute(name, value)
    return params.with_pose(0.0, 0.0, 0.0).with_scene(light_azimuth=0.35, light_elevation=0.5)


def sheet_rows(world, seed: int):
    """[(label, FaceParams of 1 + len(YAWS) faces)]"""
    from ml.data.world import ATTRIBUTES
    from ml.data.world.params import FaceParams, STYLES

    people = _neutral(world.sample(64, seed=seed))
    rows = []

    def row(label, person, name, on_value, style_key=None, style=None):
        base = people[person]
        changed = base.with_attribute(name, on_value)
        if style_key is not None:
            changed = changed.with_style(style_key, style)
        off_value = 1.0 - on_value if name in ("No_Beard", "Young") else 0.0
        faces = [base.with_attribute(name, off_value)] + [changed.with_pose(yaw, 0.0, 0.0) for yaw in YAWS]
        rows.append((label, FaceParams.concat(faces)))

    for k, name in enumerate(ATTRIBUTES):
        on_value = 0.0 if name in ("No_Beard", "Young") else 1.0
        shown = f"{name} {'-1' if on_value == 0.0 else '+1'}"
        row(shown, k % 64, name, on_value)
    for key, owner in (("Eyeglasses", "Eyeglasses"), ("Bangs", "Bangs"),
                       ("Eyeglasses_color", "Eyeglasses"), ("Wearing_Lipstick", "Wearing_Lipstick")):
        for style, style_name in enumerate(STYLES[key]):
            row(f"{key}: {style_name}", (30 + 3 * style + len(key)) % 64, owner, 1.0, key, style)
    return rows


def draw_sheet(world, seed: int = 0, columns: int = 2):
    from PIL import Image, ImageDraw

    rows = sheet_rows(world, seed)
    from ml.data.world.params import FaceParams

    batch = world.render(FaceParams.concat([faces for _, faces in rows]))
    size = world.size
    per_row = 1 + len(YAWS)
    label_width = 170
    gap = size // 8
    block_width = label_width + per_row * size + gap
    rows_per_block = -(-len(rows) // columns)
    header = 22
    sheet = Image.new("RGB", (columns * block_width, header + rows_per_block * size), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    for block in range(columns):
        x0 = block * block_width + label_width
        draw.text((x0 + 4, 5), "off", fill=(200, 200, 200))
        for j, yaw in enumerate(YAWS):
            draw.text((x0 + (j + 1) * size + 4, 5), f"on, yaw {yaw:+.0f}", fill=(200, 200, 200))
    for r, (label, _) in enumerate(rows):
        block, within = divmod(r, rows_per_block)
        y = header + within * size
        x = block * block_width
        draw.text((x + 6, y + size // 2 - 6), label, fill=(235, 235, 235))
        for j in range(per_row):
            image = Image.fromarray(batch.image[r * per_row + j])
            sheet.paste(image, (x + label_width + j * size, y))
    return sheet


def run(args) -> int:
    from ml.data.world import FaceWorld

    world = FaceWorld(size=args.size, backend=args.backend, threads=args.threads)
    sheet = draw_sheet(world, seed=args.seed, columns=args.columns)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out} ({sheet.width}x{sheet.height}, {world.backend} backend, {world.size} px)")
    return 0
