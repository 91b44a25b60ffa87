"""The fast renderer: the same scene traced into GLSL fragment shaders, run by Mesa's llvmpipe
(CPU OpenGL) through a headless EGL context.

A batch is drawn into square tiles of one atlas framebuffer, every draw one face with its packed
values in a uniform array: uniform reads are scalar loads, while the same values read from a
storage buffer at a per-fragment offset were per-lane gathers (4.3x slower). Per face:

1. the depth pre-pass, one fragment per 4 x 4 block: how far the block's rays can go before they
   could meet the head, and whether the block holds anything at all;
2. the pixel shader, as one point sprite per non-empty block (empty ones are backdrop, filled
   in numpy): the march from the pre-pass's distance, normals, paint, glasses;
3. the landmark lift, one fragment per landmark (`landmarks.head_points`' march).

llvmpipe runs every line of a shader for every pixel it draws (an `if` only masks lanes, only
loops stop early), so what a face does not need is left out twice over: empty blocks are not
drawn, and each face is drawn by the shader variant of its switches (`scene.SWITCHES`), which
holds no code for glasses, beards, skin details or long hair it does not have. Two render targets
come back: RGBA8 (colour, and label | line << 7 in alpha) and R32F camera depth.
"""
from __future__ import annotations

import functools
import os

import numpy as np
import torch

from . import scene
from .landmarks import LANDMARK_COUNT, LIFT_STEPS, lift_rays
from .ops import GLSL_HELPERS, GlslOps, ShaderBuilder, Sym, TorchOps
from .pack import CAMERA_CENTRE_Y, CAMERA_HALF_EXTENT, CAMERA_Z, pack_fields
from .torch_backend import TorchFaceValues

ATLAS_SIDE = 1024
COARSE = 4  # pixels per side of a depth pre-pass block
COARSE_STEPS = 24
LEAVE = 0.3  # a pixel ray this much farther from the head than its closest approach has missed


class GlslFaceValues:
    """`q.<field>` while tracing: a read of the face's packed value in the uniform array."""

    def __init__(self, builder):
        self._index = {name: i for i, name in enumerate(pack_fields())}
        self._builder = builder

    def __getattr__(self, name):
        index = self.__dict__["_index"]
        if name not in index:
            raise AttributeError(name)
        return Sym(f"u_face[{index[name]}]", self.__dict__["_builder"])


def trace_function(signature: str, arguments: list[str], body, outputs: list[str],
                   switches: dict[str, bool] | None = None) -> str:
    """GLSL source of one function, from a Python function of (m, q, *arguments); `switches`
    fixes per-face conditions of `scene.SWITCHES` for a shader variant."""
    builder = ShaderBuilder(switches)
    m, q = GlslOps(builder), GlslFaceValues(builder)
    results = body(m, q, *[Sym(a, builder) for a in arguments])
    if not isinstance(results, (tuple, list)):
        results = (results,)
    lines = [signature + " {"] + builder.lines
    for name, value in zip(outputs, results):
        lines.append(f"    {name} = {Sym.text(value)};")
    if outputs == ["return"]:
        lines[-1] = f"    return {Sym.text(results[0])};"
    lines.append("}")
    return "\n".join(lines)


# Shared by both passes: the orthographic ray of screen point (sx, sy) in head coordinates, and
# the stretch of it inside the bounding sphere.
RAY = """
void camera_ray(float sx, float sy, out float ox, out float oy, out float oz,
                out float dx, out float dy, out float dz, out float t, out float t_end) {
    ox = u_face[RT00] * sx + u_face[RT01] * sy + u_face[RT02] * CAMERA_Z;
    oy = u_face[RT10] * sx + u_face[RT11] * sy + u_face[RT12] * CAMERA_Z;
    oz = u_face[RT20] * sx + u_face[RT21] * sy + u_face[RT22] * CAMERA_Z;
    dx = u_face[RT02]; dy = u_face[RT12]; dz = u_face[RT22];
    float tc = -(ox * dx + oy * dy + oz * dz);
    float b2 = ox * ox + oy * oy + oz * oz - tc * tc;
    float half_chord = sqrt(max(BOUND * BOUND - b2, 0.0));
    t = tc - half_chord;
    t_end = tc + half_chord;
}
"""

# The depth pre-pass, one fragment per COARSE x COARSE block of pixels. It marches a cylinder of
# the block's half-diagonal round the block's centre ray (each step shortened by that radius), so
# no pixel ray of the block meets the head before the distance it writes; pixel rays start there,
# a few steps from their surface, instead of marching in from the bounding sphere. It also says
# whether the block needs drawing at all: llvmpipe runs every line of a shader for every pixel
# it draws (an `if` only masks lanes), so the backdrop is cheapest not drawn.
COARSE_MAIN = """
void main() {
    float px = (gl_FragCoord.x - float(u_origin.x)) * float(COARSE);
    float py = (gl_FragCoord.y - float(u_origin.y)) * float(COARSE);
    float sx = (px / float(u_size) * 2.0 - 1.0) * HALF;
    float sy = CENTRE_Y + (py / float(u_size) * 2.0 - 1.0) * HALF;
    float ox, oy, oz, dx, dy, dz, t, t_end;
    camera_ray(sx, sy, ox, oy, oz, dx, dy, dz, t, t_end);
    float radius = 0.7072 * float(COARSE) * u_face[PIX];
    for (int i = 0; i < PROXY_STEPS; i++) {
        if (t > t_end) break;
        float d = proxy(ox + dx * t, oy + dy * t, oz + dz * t);
        if (d < 2.0 * radius) break;
        t += d - radius;
    }
    for (int i = 0; i < COARSE_STEPS; i++) {
        if (t > t_end) break;
        float d = sdf(ox + dx * t, oy + dy * t, oz + dz * t);
        if (d < 2.0 * radius) break;
        t += STEP_SCALE * (d - radius);
    }
    // a block whose cylinder met nothing is backdrop and is not drawn (unless glasses may be)
    float near = t <= t_end ? 1.0 : glasses_reach(ox, oy, oz, dx, dy, dz, 2.0 * radius);
    out_start = vec2(t, near);
}
"""

MAIN = """
void main() {
    float px = gl_FragCoord.x - float(u_origin.x);
    float py = gl_FragCoord.y - float(u_origin.y);
    float sx = (px / float(u_size) * 2.0 - 1.0) * HALF;
    float sy = CENTRE_Y + (py / float(u_size) * 2.0 - 1.0) * HALF;
    float ox, oy, oz, dx, dy, dz, t, t_end;
    camera_ray(sx, sy, ox, oy, oz, dx, dy, dz, t, t_end);
    t = max(t, texelFetch(u_start, ivec2(gl_FragCoord.xy) / COARSE, 0).r);
    float pix = u_face[PIX];
    float epsilon = HIT_FRACTION * pix;
    float d_min = 1e9, t_min = t, d_hit = 0.0;
    bool hit = false;
    for (int i = 0; i < STEPS; i++) {
        if (t > t_end) break;
        float d = sdf(ox + dx * t, oy + dy * t, oz + dz * t);
        if (d < d_min) { d_min = d; t_min = t; }
        if (d < epsilon) { hit = true; d_hit = d; break; }
        if (d > d_min + LEAVE) break;  // past its closest approach: a miss
        t += STEP_SCALE * d;
    }
    float d_at = hit ? d_hit : d_min;
    t = hit ? t : t_min;
    float cover = hit ? 1.0 : clamp(1.0 - d_min / pix, 0.0, 1.0);
    float x = ox + dx * t, y = oy + dy * t, z = oz + dz * t;
    float nx, ny, nz;
    NORMAL_TAPS
    float ninv = inversesqrt(nx * nx + ny * ny + nz * nz + 1e-12);
    nx *= ninv; ny *= ninv; nz *= ninv;
    float r, g, b, label, line;
    shade(ox, oy, oz, dx, dy, dz, t, cover, nx, ny, nz, sx, sy, r, g, b, label, line);
    float code = floor(label + 0.5) + (line > 0.5 ? 128.0 : 0.0);
    out_colour = vec4(r, g, b, code / 255.0);
    out_depth = cover >= 0.5 ? t + CAMERA_Z : 1e3;
}
"""


LIFT_MAIN = """
void main() {
    int i = int(gl_FragCoord.x);
    float ox = u_ray[i], oy = u_ray[LANDMARKS + i], oz = u_ray[2 * LANDMARKS + i];
    float dx = u_ray[3 * LANDMARKS + i], dy = u_ray[4 * LANDMARKS + i], dz = u_ray[5 * LANDMARKS + i];
    float jaw = u_ray[6 * LANDMARKS + i];
    float t = 0.0;
    for (int k = 0; k < LIFT_STEPS; k++) {
        t += lift_sdf(ox + dx * t, oy + dy * t, oz + dz * t, jaw);
    }
    out_point = vec4(ox + dx * t, oy + dy * t, oz + dz * t, 1.0);
}
"""


def _header(outputs: str) -> str:
    fields = pack_fields()
    return f"""#version 430
uniform float u_face[{len(fields)}];
{outputs}
"""


@functools.lru_cache(maxsize=1)
def lift_shader_source() -> str:
    sdf = trace_function("float lift_sdf(float x, float y, float z, float jaw)", ["x", "y", "z", "jaw"],
                         scene.landmark_sdf, ["return"])
    outputs = f"uniform float u_ray[{7 * LANDMARK_COUNT}];\nlayout(location = 0) out vec4 out_point;"
    constants = f"#define LANDMARKS {LANDMARK_COUNT}\n#define LIFT_STEPS {LIFT_STEPS}"
    return "\n".join([_header(outputs), constants, GLSL_HELPERS, sdf, LIFT_MAIN])


def _with_field_indices(text: str) -> str:
    fields = {name: i for i, name in enumerate(pack_fields())}
    for i in range(3):
        for j in range(3):
            text = text.replace(f"RT{i}{j}", str(fields[f"rt{i}{j}"]))
    return text.replace("PIX", str(fields["pix"]))


@functools.lru_cache(maxsize=None)
def shader_sources(variant: tuple[bool, ...] | None = None) -> tuple[str, str]:
    """(the depth pre-pass, the pixel shader); `variant` fixes every switch of
    `scene.SWITCHES` (in its order), None leaves them to run time."""
    from .torch_backend import NORMAL_STEP

    switches = None if variant is None else dict(zip(scene.SWITCHES, variant))
    sdf = trace_function("float sdf(float x, float y, float z)", ["x", "y", "z"],
                         scene.scene_sdf, ["return"], switches)
    proxy = trace_function("float proxy(float x, float y, float z)", ["x", "y", "z"],
                           scene.proxy_sdf, ["return"])
    shade_args = ["ox", "oy", "oz", "dx", "dy", "dz", "t", "cover", "nx", "ny", "nz", "sx", "sy"]
    shade = trace_function(
        "void shade(" + ", ".join(f"float {a}" for a in shade_args)
        + ", out float r, out float g, out float b, out float label, out float line)",
        shade_args, scene.shade, ["r", "g", "b", "label", "line"], switches)
    # forward differences from the march's last distance (see torch_backend.surface_normal)
    taps = "\n".join(
        f"    n{axis} = sdf({', '.join(f'{c} + {NORMAL_STEP}' if c == axis else c for c in 'xyz')}) - d_at;"
        for axis in "xyz")
    constants = "\n".join([
        f"#define HALF {CAMERA_HALF_EXTENT:.6f}", f"#define CENTRE_Y {CAMERA_CENTRE_Y:.6f}",
        f"#define CAMERA_Z {CAMERA_Z:.6f}", f"#define BOUND {scene.BOUND_RADIUS:.6f}",
        f"#define STEPS {scene.MARCH_STEPS}", f"#define PROXY_STEPS {scene.PROXY_STEPS}",
        f"#define COARSE {COARSE}", f"#define COARSE_STEPS {COARSE_STEPS}", f"#define LEAVE {LEAVE:.6f}",
        f"#define HIT_FRACTION {scene.HIT_FRACTION:.6f}", f"#define STEP_SCALE {scene.STEP_SCALE:.6f}",
    ])
    uniforms = "uniform ivec2 u_origin;\nuniform int u_size;\n"
    ray = _with_field_indices(RAY)
    reach_args = ["ox", "oy", "oz", "dx", "dy", "dz", "margin"]
    reach = trace_function("float glasses_reach(" + ", ".join(f"float {a}" for a in reach_args) + ")",
                           reach_args, scene.glasses_reach, ["return"], switches)
    coarse = "\n".join([_header(uniforms + "layout(location = 0) out vec2 out_start;"), constants,
                        GLSL_HELPERS, sdf, proxy, reach, ray, _with_field_indices(COARSE_MAIN)])
    pixels = "\n".join([
        _header(uniforms + "uniform sampler2D u_start;\n"
                "layout(location = 0) out vec4 out_colour;\nlayout(location = 1) out float out_depth;"),
        constants, GLSL_HELPERS, sdf, shade, ray, _with_field_indices(MAIN.replace("NORMAL_TAPS", taps))])
    return coarse, pixels


VERTEX = """#version 430
void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
"""


BLOCK_VERTEX = f"""#version 430
in vec2 in_position;
void main() {{ gl_Position = vec4(in_position, 0.0, 1.0); gl_PointSize = {COARSE}.0; }}
"""


def _load_triton_first() -> None:
    """torch._dynamo (imported lazily by optimizers) loads triton, which bundles its own LLVM and
    segfaults when loaded after Mesa's llvmpipe; loaded before any GL context, both work."""
    try:
        import triton  # noqa: F401
    except ImportError:
        pass


class GLRenderer:
    """Owns the EGL context, the programs (the lift, and a pre-pass and pixel pair per switch
    variant, compiled as faces need them) and the render targets of each tile size."""

    def __init__(self, threads: int | None = None):
        if threads is not None:
            os.environ["LP_NUM_THREADS"] = str(threads)
        _load_triton_first()
        import moderngl

        self.moderngl = moderngl
        self.ctx = moderngl.create_standalone_context(backend="egl")
        renderer = self.ctx.info.get("GL_RENDERER", "")
        self.ctx.enable(moderngl.PROGRAM_POINT_SIZE)
        self._variants = {}
        self.lift_program = self.ctx.program(vertex_shader=VERTEX, fragment_shader=lift_shader_source())
        self.lift_vao = self.ctx.vertex_array(self.lift_program, [])
        self.renderer = renderer
        self._targets = {}

    def _variant(self, key: tuple[bool, ...]):
        """(pre-pass program, its vertex array, pixel program) of one combination of switches,
        compiled when first needed."""
        if key not in self._variants:
            coarse, pixels = shader_sources(key)
            coarse_program = self.ctx.program(vertex_shader=VERTEX, fragment_shader=coarse)
            self._variants[key] = (coarse_program, self.ctx.vertex_array(coarse_program, []),
                                   self.ctx.program(vertex_shader=BLOCK_VERTEX, fragment_shader=pixels))
        return self._variants[key]

    def _target(self, size: int):
        if size not in self._targets:
            tiles = max(1, ATLAS_SIDE // size)
            side = tiles * size
            colour = self.ctx.texture((side, side), 4, dtype="f1")
            depth = self.ctx.texture((side, side), 1, dtype="f4")
            fbo = self.ctx.framebuffer(color_attachments=[colour, depth])
            start = self.ctx.texture((side // COARSE, side // COARSE), 2, dtype="f4")
            start.filter = (self.moderngl.NEAREST, self.moderngl.NEAREST)
            starts = self.ctx.framebuffer(color_attachments=[start])
            points = self.ctx.framebuffer(color_attachments=[
                self.ctx.texture((LANDMARK_COUNT, tiles * tiles), 4, dtype="f4")])
            self._targets[size] = (tiles, fbo, starts, points)
        return self._targets[size]

    def render_packed(self, packed: np.ndarray, size: int) -> dict:
        """Maps of every face, and its landmarks lifted onto the head ("points", head frame)."""
        if size % COARSE:  # FaceWorld sends other sizes to the torch backend
            raise ValueError(f"the GL backend renders sizes that are multiples of {COARSE}, not {size}")
        tiles, fbo, starts, points_fbo = self._target(size)
        per_draw = tiles * tiles
        n = len(packed)
        rgb = np.empty((n, size, size, 3), np.uint8)
        code = np.empty((n, size, size), np.uint8)
        depth = np.empty((n, size, size), np.float32)
        points = np.empty((n, LANDMARK_COUNT, 3), np.float32)
        for start in range(0, n, per_draw):
            chunk = np.ascontiguousarray(packed[start:start + per_draw], np.float32)
            count = len(chunk)
            cols = min(tiles, count)  # draw and read back only the tiles in use
            rows = -(-count // cols)
            blocks = size // COARSE
            groups = self._group_by_variant(chunk)
            for (coarse, coarse_vao, _), faces in groups:
                coarse["u_size"].value = size
                self._draw_tiles(coarse, coarse_vao, chunk, faces, starts, blocks, cols, rows)
            active = np.frombuffer(starts.read(viewport=(0, 0, cols * blocks, rows * blocks), components=2,
                                               dtype="f4"), np.float32).reshape(rows * blocks, cols * blocks, 2)
            active = untile(active[::-1, :, 1] > 0.5, rows, cols, blocks)[:count]
            starts.color_attachments[0].use(location=0)
            vertices, firsts, counts = block_points(active)
            # one upload for every variant's draws (a buffer may not be empty)
            buffer = self.ctx.buffer(vertices.tobytes() or bytes(8))
            for (_, _, program), faces in groups:
                program["u_size"].value, program["u_start"].value = size, 0
                self._draw_tiles(program, None, chunk, faces, fbo, size, cols, rows, (buffer, firsts, counts))
            buffer.release()
            self._draw_lifts(chunk, points_fbo)
            view = (0, 0, cols * size, rows * size)
            # whole RGBA pixels as uint32: numpy copies 4-byte elements far faster than bytes
            colour = np.frombuffer(fbo.read(viewport=view, components=4, attachment=0), np.uint32)
            colour = untile(colour.reshape(rows * size, cols * size)[::-1], rows, cols, size)[:count]
            z = np.frombuffer(fbo.read(viewport=view, components=1, attachment=1, dtype="f4"), np.float32)
            z = untile(z.reshape(rows * size, cols * size)[::-1], rows, cols, size)[:count]
            # blocks the pre-pass found empty were not drawn: they are backdrop (label 0)
            empty = ~active.repeat(COARSE, 1).repeat(COARSE, 2)
            colour = np.where(empty, backdrop(chunk, size), colour).view(np.uint8).reshape(count, size, size, 4)
            for channel in range(3):
                rgb[start:start + count, ..., channel] = colour[..., channel]
            code[start:start + count] = colour[..., 3]
            depth[start:start + count] = np.where(empty, 1e3, z)
            lifted = points_fbo.read(viewport=(0, 0, LANDMARK_COUNT, count), components=4, dtype="f4")
            points[start:start + count] = np.frombuffer(lifted, np.float32).reshape(count, LANDMARK_COUNT, 4)[..., :3]
        return {"rgb": rgb, "label": code & 127, "line": (code & 128) > 0, "depth": depth, "points": points}

    def _group_by_variant(self, chunk: np.ndarray) -> list:
        """[(variant programs, indices of the faces that use them)]."""
        with torch.no_grad():
            q, m = TorchFaceValues(torch.from_numpy(chunk)), TorchOps()
            flags = np.stack([np.broadcast_to(np.asarray(test(m, q), np.float32).reshape(-1), len(chunk)) > 0.5
                              for test in scene.SWITCHES.values()], 1)
        keys, inverse = np.unique(flags, axis=0, return_inverse=True)
        return [(self._variant(tuple(bool(v) for v in key)), np.nonzero(inverse.reshape(-1) == k)[0])
                for k, key in enumerate(keys)]

    def _draw_tiles(self, program, vao, chunk: np.ndarray, faces, fbo, tile: int, cols: int, rows: int,
                    sprites: tuple | None = None) -> None:
        """One draw per face of `faces` into its tile (tile x tile pixels, rows of tiles from the
        top): the whole tile, or only the face's point `sprites` (a buffer of vertices, and the
        first vertex and vertex count of each face)."""
        face_values, origin = program["u_face"], program["u_origin"]
        used = face_values.array_length  # the compiler drops trailing values no formula reads
        if sprites is not None:
            buffer, firsts, counts = sprites
            vao = self.ctx.vertex_array(program, [(buffer, "2f", "in_position")])
        fbo.use()
        for index in faces:
            if sprites is not None and not counts[index]:
                continue  # nothing of this face but backdrop
            x, y = (index % cols) * tile, (rows - 1 - index // cols) * tile
            fbo.viewport = fbo.scissor = (x, y, tile, tile)
            face_values.write(chunk[index][:used].tobytes())
            origin.value = (x, y)
            if sprites is None:
                vao.render(self.moderngl.TRIANGLES, vertices=3)
            else:
                vao.render(self.moderngl.POINTS, vertices=int(counts[index]), first=int(firsts[index]))
        fbo.scissor = None
        if sprites is not None:
            vao.release()

    def _draw_lifts(self, chunk: np.ndarray, fbo) -> None:
        """Row k of the points target: face k's 68 landmarks."""
        with torch.no_grad():
            rays = lift_rays(TorchFaceValues(torch.from_numpy(chunk)))
        rays = torch.stack([ray.expand(len(chunk), -1) for ray in rays], 1).numpy().astype(np.float32)
        face_values, ray_values = self.lift_program["u_face"], self.lift_program["u_ray"]
        used = face_values.array_length
        fbo.use()
        for index, values in enumerate(chunk):
            face_values.write(values[:used].tobytes())
            ray_values.write(rays[index].tobytes())
            fbo.viewport = fbo.scissor = (0, index, LANDMARK_COUNT, 1)
            self.lift_vao.render(self.moderngl.TRIANGLES, vertices=3)
        fbo.scissor = None


def untile(atlas: np.ndarray, rows: int, cols: int, tile: int) -> np.ndarray:
    """An atlas image (top row of tiles first) -> [rows * cols, tile, tile, ...], row-major."""
    rest = atlas.shape[2:]
    tiles = atlas.reshape(rows, tile, cols, tile, *rest).swapaxes(1, 2)
    return tiles.reshape(rows * cols, tile, tile, *rest)


def block_points(active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One COARSE-pixel point sprite on each active block of each face, at the block's centre in
    the tile's normalised device coordinates: (vertices [V, 2] float32, first vertex and vertex
    count per face). `active` is [faces, blocks, blocks], top row first. Points, because llvmpipe
    shades whole 4x4 pixel groups: a square point on a block is one group, while the two
    triangles of a quad would each shade every group their diagonal crosses."""
    faces, blocks, _ = active.shape
    face, row, column = np.nonzero(active)
    x = (column + 0.5) / blocks * 2.0 - 1.0
    y = 1.0 - (row + 0.5) / blocks * 2.0
    counts = np.bincount(face, minlength=faces)
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.stack([x, y], 1).astype(np.float32), firsts, counts


def backdrop(chunk: np.ndarray, size: int) -> np.ndarray:
    """The backdrop of every face (`scene.background`) as RGBA pixels with label 0, packed in
    uint32 like the colour target: [N, size, 1], the same along each row."""
    from .torch_backend import screen_coordinates

    with torch.no_grad():
        _, sy = screen_coordinates(size)
        rows = sy.reshape(size, size)[:, :1].reshape(1, size)
        colour = scene.background(TorchOps(), TorchFaceValues(torch.from_numpy(chunk)), rows)
        colour = torch.stack([*colour, torch.zeros_like(colour[0])], -1)
        colour = colour.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    return np.ascontiguousarray(colour).view(np.uint32).reshape(len(chunk), size, 1)


_renderer: GLRenderer | None = None
_failure: str | None = None


def get_renderer(threads: int | None = None) -> GLRenderer:
    """The process's GL renderer (created once); raises RuntimeError if EGL is unavailable."""
    global _renderer, _failure
    if _renderer is None:
        if _failure is not None:
            raise RuntimeError(_failure)
        try:
            _renderer = GLRenderer(threads)
        except Exception as error:  # missing moderngl, libEGL, or a driver without GL 4.3
            _failure = f"GL backend unavailable: {type(error).__name__}: {error}"
            raise RuntimeError(_failure) from error
    return _renderer
