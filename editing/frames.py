"""Preview frames on the wire: one binary WebSocket message per frame.

    [4 bytes: header length N, big-endian] [N bytes: JSON header] [image bytes]

The header carries the sequence number the client asked for and the server's timings, so the
browser can draw only frames newer than the last one it drew.
"""
from __future__ import annotations

import io
import json
import struct

import numpy as np
from PIL import Image


def encode_image(image: np.ndarray, quality: int = 80, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def pack_frame(header: dict, image_bytes: bytes) -> bytes:
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">I", len(header_bytes)) + header_bytes + image_bytes


def unpack_frame(frame: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack(">I", frame[:4])
    return json.loads(frame[4 : 4 + length]), frame[4 + length :]
