"""One set of math functions, two meanings: torch tensors, or GLSL source text.

The scene formulas in `scene.py` are written once against an `ops` object `m`. With `TorchOps`
they compute on tensors (the reference backend); with `GlslOps` every call appends one line of
GLSL to a `ShaderBuilder`, so the shader is a literal trace of the same Python code. That is
what keeps the two backends within a rounding error of each other.

Only branch-free maths is allowed: conditions are floats (0 or 1) made by `step`, and choices
are made by `select(condition, a, b)`.
"""
from __future__ import annotations

import math

import torch


# ----------------------------------------------------------------------------- torch


class TorchOps:
    """Scene maths on tensors; python floats broadcast."""

    pi = math.pi

    @staticmethod
    def _t(x, like):
        return x if torch.is_tensor(x) else torch.full_like(like, float(x))

    def sqrt(self, x):
        return torch.sqrt(torch.clamp(x, min=0.0))

    def abs(self, x):
        return torch.abs(x)

    def min(self, a, b):
        if not torch.is_tensor(a):
            a, b = b, a
        return torch.clamp(a, max=b) if not torch.is_tensor(b) else torch.minimum(a, b)

    def max(self, a, b):
        if not torch.is_tensor(a):
            a, b = b, a
        return torch.clamp(a, min=b) if not torch.is_tensor(b) else torch.maximum(a, b)

    def clamp(self, x, lo, hi):
        return self.min(self.max(x, lo), hi)

    def mix(self, a, b, t):
        return a + (b - a) * t

    def smoothstep(self, e0, e1, x):
        t = self.clamp((x - e0) / (e1 - e0), 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    def step(self, edge, x):
        """1.0 where x >= edge, else 0.0."""
        return (x - edge >= 0).to(torch.float32) if torch.is_tensor(x - edge) else float(x >= edge)

    def select(self, cond, a, b):
        """a where cond > 0.5, else b."""
        like = cond
        return torch.where(cond > 0.5, self._t(a, like), self._t(b, like))

    def sin(self, x):
        return torch.sin(x)

    def cos(self, x):
        return torch.cos(x)

    def atan2(self, y, x):
        return torch.atan2(y, x)

    def exp(self, x):
        return torch.exp(x)

    def pow(self, x, e):
        return torch.pow(torch.clamp(x, min=1e-6), e)

    def floor(self, x):
        return torch.floor(x)

    def wave(self, x):
        """A cheap periodic stand-in for sin (period 2*pi, range -1..1), for noise and ripples."""
        return _wave(self, x)

    def branch(self, cond, compute, fallback, switch: str | None = None):
        """compute() where cond > 0.5, else fallback (a GPU may skip compute() in GLSL).

        compute() returns a value or a tuple; fallback has the same form. `switch` names a
        per-face condition (`scene.SWITCHES`) that shader variants fix in advance."""
        values = compute()
        if isinstance(values, tuple):
            return tuple(self.select(cond, v, f) for v, f in zip(values, fallback))
        return self.select(cond, values, fallback)


# ----------------------------------------------------------------------------- GLSL tracing


def glsl_float(value: float) -> str:
    text = f"{float(value):.9g}"
    if "." not in text and "e" not in text and "n" not in text:
        text += ".0"
    return text


class ShaderBuilder:
    """Collects the straight-line GLSL that one traced function produces. `switches` fixes
    per-face conditions by name (True / False) for a shader variant; the others stay runtime."""

    def __init__(self, switches: dict[str, bool] | None = None):
        self.lines: list[str] = []
        self.count = 0
        self.switches = dict(switches or {})

    def emit(self, expression: str) -> "Sym":
        self.count += 1
        name = f"v{self.count}"
        self.lines.append(f"    float {name} = {expression};")
        return Sym(name, self)


class Sym:
    """A float variable of the shader being traced."""

    __slots__ = ("name", "builder")

    def __init__(self, name, builder):
        self.name = name
        self.builder = builder

    @staticmethod
    def text(x) -> str:
        return x.name if isinstance(x, Sym) else glsl_float(x)

    def _bin(self, op, other, reverse=False):
        a, b = (other, self) if reverse else (self, other)
        return self.builder.emit(f"{Sym.text(a)} {op} {Sym.text(b)}")

    def __add__(self, o):
        return self._bin("+", o)

    def __radd__(self, o):
        return self._bin("+", o, True)

    def __sub__(self, o):
        return self._bin("-", o)

    def __rsub__(self, o):
        return self._bin("-", o, True)

    def __mul__(self, o):
        return self._bin("*", o)

    def __rmul__(self, o):
        return self._bin("*", o, True)

    def __truediv__(self, o):
        return self._bin("/", o)

    def __rtruediv__(self, o):
        return self._bin("/", o, True)

    def __neg__(self):
        return self.builder.emit(f"-{self.name}")


class GlslOps:
    """Scene maths that writes GLSL; the helper functions live in `GLSL_HELPERS`."""

    pi = math.pi

    def __init__(self, builder: ShaderBuilder):
        self.b = builder

    def _call(self, fn, *args):
        return self.b.emit(f"{fn}({', '.join(Sym.text(a) for a in args)})")

    def sqrt(self, x):
        return self._call("sqrt", self._call("max", x, 0.0))

    def abs(self, x):
        return self._call("abs", x)

    def min(self, a, b):
        return self._call("min", a, b)

    def max(self, a, b):
        return self._call("max", a, b)

    def clamp(self, x, lo, hi):
        return self._call("clamp", x, lo, hi)

    def mix(self, a, b, t):
        return self._call("mix", a, b, t)

    def smoothstep(self, e0, e1, x):
        return self._call("ss", e0, e1, x)

    def step(self, edge, x):
        return self._call("stp", edge, x)

    def select(self, cond, a, b):
        return self.b.emit(f"({Sym.text(cond)} > 0.5) ? {Sym.text(a)} : {Sym.text(b)}")

    def sin(self, x):
        return self._call("sin", x)

    def cos(self, x):
        return self._call("cos", x)

    def atan2(self, y, x):
        return self._call("atan", y, x)

    def exp(self, x):
        return self._call("exp", x)

    def pow(self, x, e):
        return self._call("pow", self._call("max", x, 1e-6), e)

    def floor(self, x):
        return self._call("floor", x)

    def wave(self, x):
        return _wave(self, x)

    def branch(self, cond, compute, fallback, switch: str | None = None):
        """A real `if`: compute()'s lines run only where cond > 0.5; fallback elsewhere.

        GPUs skip the block for coherent groups of pixels; llvmpipe runs it under a mask, so a
        `switch` this variant fixes emits one side only, and no `if`."""
        if switch in self.b.switches:
            return compute() if self.b.switches[switch] else fallback
        many = isinstance(fallback, tuple)
        results = [self.b.emit(Sym.text(f)) for f in (fallback if many else (fallback,))]
        self.b.lines.append(f"    if ({Sym.text(cond)} > 0.5) {{")
        values = compute()
        for result, value in zip(results, values if many else (values,)):
            self.b.lines.append(f"    {result.name} = {Sym.text(value)};")
        self.b.lines.append("    }")
        return tuple(results) if many else results[0]


def _wave(m, x):
    # a parabola per half period: 4 t (1 - |t|) on t in [-1, 1] (about 8 operations; sin costs ~30)
    p = x * (1.0 / (2.0 * math.pi))
    t = 2.0 * (p - m.floor(p)) - 1.0
    return -4.0 * t * (1.0 - m.abs(t))


GLSL_HELPERS = """
float ss(float e0, float e1, float x) {
    float t = clamp((x - e0) / (e1 - e0), 0.0, 1.0);
    return t * t * (3.0 - 2.0 * t);
}
float stp(float edge, float x) { return (x - edge >= 0.0) ? 1.0 : 0.0; }
"""
