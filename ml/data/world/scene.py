"""The scene, written once: signed distances of the head and its parts, and the surface paint.

Head frame: x = the subject's left, y up, the face looks toward -z; units are about a head
half-height. Every function takes an ops object `m` (`ops.TorchOps` or `ops.GlslOps`) and `q`,
the packed per-face parameters (`pack.PACK_FIELDS`, read as attributes). Features are painted in
the frontal surface coordinates (u, v) = (x, y) of the hit point, so they foreshorten and hide
correctly when the head turns. A painted feature is a 2-D signed distance f (negative inside);
its coverage is clamp(0.5 - f / footprint), which anti-aliases it for free.

Label ids are `SEGMENT_CLASSES` indices (CelebAMask-HQ names).
"""
from __future__ import annotations

# CelebAMask-HQ class names, in the order of the usual face-parsing label maps.
# l_* is the subject's left (x > 0: the image's right side in a frontal view).
SEGMENT_CLASSES = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
    "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)
SEG = {name: i for i, name in enumerate(SEGMENT_CLASSES)}

PROXY_STEPS = 16  # cheap steps toward the bounding capsule
MARCH_STEPS = 28  # full steps after that
STEP_SCALE = 0.95
HIT_FRACTION = 0.2  # a ray has hit when the distance is below this fraction of a pixel
NEAR_FRACTION = 1.5  # ... and leaves the proxy when within this many pixels (or 0.06)
BOUND_RADIUS = 2.2


# Per-face conditions under which whole parts of the scene drop out. The GL backend compiles a
# shader variant per combination and draws each face with its own (llvmpipe pays for every line
# of a shader, taken or not); the torch backend selects per face as usual.
SWITCHES = {
    "glasses": lambda m, q: m.step(0.01, q.glasses),
    "facial_hair": lambda m, q: m.step(0.01, q.beard + q.goatee + q.mustache + q.stubble),
    "skin_details": lambda m, q: m.step(0.01, q.makeup + q.age + q.bags + q.smile + q.chubby),
    "long_hair": lambda m, q: 1.0 - q.no_curtain,
}


def when(m, q, switch, compute, fallback):
    """compute() for faces where SWITCHES[switch] holds, else fallback."""
    return m.branch(SWITCHES[switch](m, q), compute, fallback, switch=switch)


# ----------------------------------------------------------------------------- primitives


def sq(x):
    return x * x


def length3(m, x, y, z):
    return m.sqrt(x * x + y * y + z * z)


def length2(m, x, y):
    return m.sqrt(x * x + y * y)


def ellipsoid(m, x, y, z, rx, ry, rz):
    """Approximate distance to an axis-aligned ellipsoid (a bound, good near the surface)."""
    k0 = m.sqrt(sq(x / rx) + sq(y / ry) + sq(z / rz))
    k1 = m.sqrt(sq(x / (rx * rx)) + sq(y / (ry * ry)) + sq(z / (rz * rz)))
    return k0 * (k0 - 1.0) / m.max(k1, 1e-4)


def smin(m, a, b, k):
    """Smooth minimum: blends two surfaces over a distance k."""
    h = m.clamp(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return m.mix(b, a, h) - k * h * (1.0 - h)


def capsule(m, x, y, z, ax, ay, az, bx, by, bz, ra, rb):
    """Distance to a capsule from a to b whose radius goes from ra to rb."""
    px, py, pz = x - ax, y - ay, z - az
    ex, ey, ez = bx - ax, by - ay, bz - az
    h = m.clamp((px * ex + py * ey + pz * ez) / (ex * ex + ey * ey + ez * ez), 0.0, 1.0)
    return length3(m, px - ex * h, py - ey * h, pz - ez * h) - m.mix(ra, rb, h)


def segment2(m, x, y, ax, ay, bx, by):
    """Distance to a 2-D segment."""
    px, py = x - ax, y - ay
    ex, ey = bx - ax, by - ay
    h = m.clamp((px * ex + py * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return length2(m, px - ex * h, py - ey * h)


def rounded_box2(m, x, y, hx, hy, r):
    dx = m.abs(x) - hx + r
    dy = m.abs(y) - hy + r
    return length2(m, m.max(dx, 0.0), m.max(dy, 0.0)) + m.min(m.max(dx, dy), 0.0) - r


def coverage(m, f, footprint):
    return m.clamp(0.5 - f / footprint, 0.0, 1.0)


def over(m, base, colour, alpha):
    """Paint `colour` over `base` (rgb tuples) with opacity alpha."""
    return tuple(m.mix(b, c, alpha) for b, c in zip(base, colour))


# ----------------------------------------------------------------------------- geometry


def head_sdf(m, q, x, y, z):
    """Skull, jaw, chin and cheekbones joined smoothly: the skin surface without the nose."""
    cranium = ellipsoid(m, x, y - q.cr_cy, z - q.cr_cz, q.cr_x, q.cr_y, q.cr_z)
    jaw = ellipsoid(m, x, y - q.jaw_cy, z - q.jaw_cz, q.jaw_w, q.jaw_h, q.jaw_d)
    head = smin(m, cranium, jaw, 0.22)
    chin = ellipsoid(m, x, y - q.chin_y, z - q.chin_z, q.chin_w, q.chin_r, q.chin_r)
    head = smin(m, head, chin, 0.18)
    ax = m.abs(x)
    cheek = length3(m, ax - q.cheek_x, y - q.cheek_y, z - q.cheek_z) - q.cheek_r
    head = smin(m, head, cheek, 0.14)
    ridge = capsule(m, ax, y, z, 0.0, q.ridge_y, q.ridge_z, q.eye_x + 0.1, q.ridge_y + 0.01,
                    q.ridge_z + 0.08, q.ridge_r, q.ridge_r * 0.6)
    head = smin(m, head, ridge, 0.08)
    lips = capsule(m, ax, y, z, 0.0, q.mouth_y, q.lip_z, q.mouth_w * 0.8, q.mouth_y + 0.01,
                   q.lip_z + 0.08, q.lip_rad, q.lip_rad * 0.5)
    return smin(m, head, lips, 0.07)


def nose_sdf(m, q, x, y, z):
    ax = m.abs(x)
    bridge = capsule(m, x, y, z, 0.0, q.nose_top_y, q.nose_top_z, 0.0, q.nose_tip_y, q.nose_tip_z,
                     q.nose_w * 0.45, q.nose_tip_r)
    wings = length3(m, ax - q.nose_w * 0.85, y - q.nose_tip_y - 0.03, z - q.nose_tip_z - 0.1) \
        - q.nose_tip_r * 0.95
    return smin(m, bridge, wings, 0.05)


def ear_sdf(m, q, x, y, z):
    return ellipsoid(m, m.abs(x) - q.ear_x, y - q.ear_y, z - q.ear_z, 0.06, q.ear_s, q.ear_s * 0.62)


def neck_sdf(m, q, x, y, z):
    tube = length2(m, x, z - 0.12) - q.neck_r
    return m.max(tube, y + 0.35)


def cloth_sdf(m, q, x, y, z):
    return ellipsoid(m, x, y + 1.78, z - 0.3, 1.25, 0.55, 0.62)


def hairline(m, q, x, ax, around):
    """Height where the hair starts, by position round the head.

    around = cos(angle from the front): 1 at the face, 0 at the ears, -1 at the back (an atan
    per march step cost too much). The fringe is one formula whose per-style coefficients come
    from `pack`: full (jagged, low), side-swept (a slope), thin (strands with gaps), curtain
    (parted in the middle)."""
    brow_top = q.eye_y + q.brow_gap + 0.06
    natural = q.hairline + q.receding * (0.1 + 0.3 * m.smoothstep(0.06, 0.42, ax))
    wisp = m.wave(x * 34.0 + 0.5)
    fringe = brow_top + q.fr_base + q.fr_jag * wisp \
        + q.fr_sweep * m.smoothstep(-0.55, 0.55, x * q.part_side) \
        + q.fr_curtain * (natural - brow_top) * sq(m.clamp(1.0 - ax / 0.42, 0.0, 1.0))
    fringe = m.mix(fringe, natural, q.fr_thin * m.step(0.35, wisp))
    front = m.mix(natural, m.min(fringe, natural), q.bangs)
    # sideburns: the hair at the temple comes down in front of the ear
    side = q.eye_y + 0.14 - q.sideburns * 0.32 * m.smoothstep(0.12, 0.27, around)
    back = q.eye_y - 0.6
    line = m.mix(front, side, m.smoothstep(0.58, 0.27, around))
    return m.mix(line, back, m.smoothstep(-0.03, -0.37, around))


def hair_sdf(m, q, x, y, z):
    ax = m.abs(x)
    zc = z - q.cr_cz
    around = -zc / m.sqrt(x * x + zc * zc + 1e-6)
    line = hairline(m, q, x, ax, around)
    # the shell thins toward the hairline, so fringes and temples end softly
    taper = 0.35 + 0.65 * m.smoothstep(0.0, 0.16, y - line)
    lobes = q.hair_lobe * m.wave(x * 8.0 + q.hair_phase) * m.wave(y * 6.0 + 1.3 + q.hair_phase) \
        + q.wavy * 0.022 * m.wave(y * 15.0 + x * 5.0)
    thick = q.hair_th * taper
    crown = q.hair_vol * m.smoothstep(0.3, 1.0, y)
    shell = ellipsoid(m, x, y - q.cr_cy, zc, q.cr_x + thick, q.cr_y + thick + crown,
                      q.cr_z + thick) - lobes
    hair = m.max(shell, (line - y) * 0.6)
    # bald: keep a horseshoe low at the sides and back
    hair = m.max(hair, y - m.mix(3.0, q.eye_y + 0.3 + 0.25 * m.smoothstep(0.36, -0.86, around), q.bald))
    return when(m, q, "long_hair", lambda: long_hair(m, q, x, y, z, zc, ax, hair), hair)


def long_hair(m, q, x, y, z, zc, ax, hair):
    """The hair with a curtain behind the face plane, down toward the shoulders."""
    bottom = q.eye_y - 0.3 - 1.1 * q.hair_len + 0.05 * m.wave(x * 16.0 + q.hair_phase)
    flare = 1.0 + 0.1 * q.hair_len * m.smoothstep(0.0, -1.0, y)
    ex = (q.cr_x + q.hair_th + 0.01) * flare
    ez = q.cr_z + q.hair_th
    wave = q.wavy * 0.03 * m.wave(y * 12.0 + x * 4.0)
    tube = (m.sqrt(sq(x / ex) + sq(zc / ez)) - 1.0) * 0.8 - wave
    front_cut = 0.12 - 0.2 * m.smoothstep(0.5, 0.9, ax) + 0.4 * wave
    curtain = m.max(m.max(tube, bottom - y), m.max(front_cut - z, y - q.eye_y - 0.2))
    return smin(m, hair, curtain, 0.08)


def scene_parts(m, q, x, y, z):
    return {
        "head": head_sdf(m, q, x, y, z),
        "nose": nose_sdf(m, q, x, y, z),
        "ear": ear_sdf(m, q, x, y, z),
        "neck": neck_sdf(m, q, x, y, z),
        "cloth": cloth_sdf(m, q, x, y, z),
        "hair": hair_sdf(m, q, x, y, z),
    }


def landmark_sdf(m, q, x, y, z, jaw):
    """The surface a landmark is lifted onto: the skin (no hair, no clothes), or for the jaw
    line (jaw = 1) the bare head, which the ears would otherwise catch."""
    head = head_sdf(m, q, x, y, z)
    skin = smin(m, smin(m, head, nose_sdf(m, q, x, y, z), 0.05), ear_sdf(m, q, x, y, z), 0.04)
    return m.select(jaw, head, skin)


def scene_sdf(m, q, x, y, z):
    p = scene_parts(m, q, x, y, z)
    d = smin(m, p["head"], p["nose"], 0.05)
    d = smin(m, d, p["ear"], 0.04)
    d = smin(m, d, p["neck"], 0.12)
    d = smin(m, d, p["cloth"], 0.04)
    return m.min(d, p["hair"])


def proxy_sdf(m, q, x, y, z):
    """A cheap lower bound of `scene_sdf`: spheres round the skull (with hair) and the face,
    the neck, the clothes, and for long hair a capsule down to the shoulders. Rays march on it
    until they are near, and only then pay for the full scene."""
    skull = length3(m, x, y - q.cr_cy, z - q.cr_cz) - q.skull_bound
    face = length3(m, x, y + 0.45, z + 0.25) - q.face_bound
    h = m.clamp((y + 1.3) / 1.6, 0.0, 1.0)
    long_hair = length3(m, x, y + 1.3 - 1.6 * h, z) - 1.15 + q.no_curtain * 5.0
    body = m.min(neck_sdf(m, q, x, y, z), cloth_sdf(m, q, x, y, z)) - 0.03
    return m.min(m.min(skull, face), m.min(long_hair, body)) - 0.03


# ----------------------------------------------------------------------------- paint


def eye_shape(m, q, side):
    """Centre, half-width and lid heights of one eye (side = -1: image left, +1: image right)."""
    open_ = (1.0 - 0.55 * q.narrow) * (1.0 - 0.3 * q.smile)
    return side * q.eye_x, q.eye_y, q.eye_w, q.eye_h * 1.15 * open_, q.eye_h * 0.8 * open_


def eye_lids(m, q, x, y, side):
    cx, cy, w, up, low = eye_shape(m, q, side)
    dx = (x - cx) * side  # positive toward the outer corner
    dy = y - cy - q.eye_tilt * dx
    t = m.clamp(dx / w, -1.0, 1.0)
    bend = 1.0 - t * t
    upper = up * bend * (1.0 + 0.25 * t)
    lower = -low * bend
    f = m.max(m.max(dy - upper, lower - dy), m.abs(dx) - w)
    return f, dx, dy, upper, lower


def brow_curve(m, q, x, side):
    dx = (x - side * (q.eye_x + 0.015)) * side
    t = dx / q.brow_len
    arch = q.brow_arch * (1.0 - sq(m.clamp(t - q.brow_peak, -1.5, 1.5)) / 1.6)
    return dx, t, q.eye_y + q.brow_gap + arch - q.brow_tilt * t


def mouth_shape(m, q, x):
    """Lip lines of the mouth at column x: centre line, opening, upper and lower lip edges."""
    w = q.mouth_w
    t = m.clamp(x / w, -1.0, 1.0)
    bend = m.sqrt(1.0 - t * t)
    centre = q.mouth_y + q.smile_lift * t * t - q.smile_lift * 0.25
    opening = q.open_h * bend
    bow = 1.0 - 0.35 * m.exp(-sq(x / 0.035))
    top = centre + opening + q.lip_u * bend * bow * (0.8 + 0.2 * (1.0 - t * t))
    bottom = centre - opening - q.lip_l * bend
    return w, t, centre, opening, top, bottom


def skin_paint(m, q, x, y, z, fw, rgb):
    """Skin details: makeup, blush, wrinkles, folds, eye bags. Returns rgb and a line weight."""
    ax = m.abs(x)
    line = 0.0 * x
    lw = m.max(q.line_w, fw * 0.9)
    # eyeshadow under the brow
    for side in (-1.0, 1.0):
        cx, cy, w, up, low = eye_shape(m, q, side)
        shadow = length2(m, (x - cx) / (w * 1.15), (y - cy - up * 0.6) / 0.085) - 1.0
        rgb = over(m, rgb, (q.shadow_r, q.shadow_g, q.shadow_b),
                   q.makeup * 0.75 * m.smoothstep(0.3, -0.4, shadow))
        # bags: a darker crescent under the lower lid, with a crease line
        bag = length2(m, (x - cx) / (w * 0.95), (y - cy + low + 0.035) / 0.05) - 1.0
        dark = q.bags * 0.3 * m.smoothstep(0.2, -0.5, bag) * m.step(y, cy - low * 0.6)
        rgb = tuple(c * (1.0 - dark) for c in rgb)
        crease = m.abs(length2(m, (x - cx) / (w * 0.9), (y - cy + low * 0.6) / (low + 0.07)) - 1.0) * 0.06
        crease_cov = coverage(m, crease - lw * 0.5, fw) * m.step(y, cy - low - 0.01) * q.bags
        # crow's feet with age
        outer = cx + side * (w + 0.03)
        crow = 1e3 + 0.0 * x
        for k in (-1.0, 0.0, 1.0):
            crow = m.min(crow, segment2(m, x, y, outer, cy + 0.01 * k, outer + side * 0.09,
                                        cy + 0.045 * k - 0.01))
        crow_cov = coverage(m, crow - lw * 0.5, fw) * q.age
        line = m.max(line, m.max(crease_cov * 0.8, crow_cov))
    # blush on the cheeks
    blush = length2(m, (ax - 0.36) / 0.15, (y - q.cheek_y + 0.05) / 0.11) - 1.0
    rgb = over(m, rgb, (0.85, 0.35, 0.4), q.blush * m.smoothstep(0.5, -0.6, blush))
    # forehead lines with age
    forehead = 1e3 + 0.0 * x
    for k in range(3):
        level = q.eye_y + q.brow_gap + 0.16 + 0.065 * k + 0.012 * m.sin(x * 9.0 + k)
        forehead = m.min(forehead, m.max(m.abs(y - level), (ax - 0.3 + 0.04 * k) * 0.5))
    line = m.max(line, coverage(m, forehead - lw * 0.5, fw) * q.age * 0.9)
    # nasolabial folds: from the nose wing past the mouth corner, deeper with smile and age
    w = q.mouth_w
    for side in (-1.0, 1.0):
        fold = segment2(m, x, y, side * (q.nose_w + 0.07), q.nose_tip_y + 0.02,
                        side * (w + 0.05 + 0.03 * q.smile), q.mouth_y - 0.06)
        fold_cov = coverage(m, fold - lw * 0.5, fw) * m.clamp(q.age * 0.9 + q.smile * 0.8, 0.0, 1.0)
        line = m.max(line, fold_cov * 0.9)
    # a double chin on chubby faces
    dchin = m.abs(length2(m, x / 0.3, (y - q.chin_y + q.chin_r * 0.85) / 0.12) - 1.0) * 0.1
    line = m.max(line, coverage(m, dchin - lw * 0.5, fw) * q.chubby * m.step(y, q.chin_y - 0.05))
    rgb = tuple(c * (1.0 - 0.45 * line) for c in rgb)
    return rgb, line


def facial_hair(m, q, x, y, z, fw, rgb):
    """Beard, goatee and mustache painted on the lower face, with a fine hair texture."""
    ax = m.abs(x)
    w, t, centre, opening, top, bottom = mouth_shape(m, q, x)
    lips = m.max(m.max(y - top - 0.015, bottom - 0.015 - y), ax - w - 0.02)
    grain = 0.65 + 0.35 * m.sin(x * 140.0 + m.sin(y * 60.0) * 2.0) * m.sin(y * 120.0) \
        * m.clamp(2.0 - fw * 60.0, 0.0, 1.0)
    # full beard: below a line from the sideburns to under the nose, down onto the jaw
    upper_edge = m.mix(q.mouth_y + 0.05, q.ear_y - 0.06, m.smoothstep(0.22, 0.62, ax))
    beard_region = m.max(y - upper_edge, -lips)
    beard_region = m.max(beard_region, z - 0.06)  # stays on the face and jaw, not the nape
    beard = coverage(m, beard_region, fw * 2.0) * q.beard
    # goatee: a patch on the chin joined to the corners of the mouth
    goatee_region = m.max(length2(m, x / (w * 0.85), (y - q.mouth_y + 0.16) / 0.2) - 1.0, -lips)
    beard = m.max(beard, coverage(m, goatee_region * 0.2, fw) * q.goatee)
    # mustache: over the upper lip, drooping at the corners
    mtop = q.nose_tip_y - q.nose_tip_r * 0.4
    mlow = top + 0.004 - 0.03 * sq(m.clamp(x / w, -1.2, 1.2))
    must_region = m.max(m.max(y - mtop, mlow - y), ax - w - 0.03)
    beard = m.max(beard, coverage(m, must_region, fw) * q.mustache)
    # a shaved man's jaw keeps a faint shadow
    stubble = coverage(m, beard_region, fw * 4.0) * q.stubble
    rgb = tuple(c * (1.0 - 0.15 * stubble) for c in rgb)
    tone = tuple(c * grain for c in (q.beard_r, q.beard_g, q.beard_b))
    return over(m, rgb, tone, m.clamp(beard * 0.95, 0.0, 1.0)), beard


def paint_face(m, q, x, y, z, fw):
    """Colour and label of the skin surface (a component of the head)."""
    rgb = (q.skin_r + 0.0 * x, q.skin_g + 0.0 * x, q.skin_b + 0.0 * x)
    label = SEG["skin"] + 0.0 * x
    # per-face switches become shader variants without the code (SWITCHES); the feature-region
    # branches below let a GPU skip work per group of pixels (llvmpipe only masks them)
    *rgb, line = when(m, q, "skin_details", lambda: flatten(skin_paint(m, q, x, y, z, fw, rgb)),
                      (*rgb, 0.0 * x))
    *rgb, beard = when(m, q, "facial_hair", lambda: flatten(facial_hair(m, q, x, y, z, fw, rgb)),
                       (*rgb, 0.0 * x))
    rgb = tuple(rgb)
    lw = m.max(q.line_w, fw * 0.9)

    near_eyes = m.step(m.abs(y - q.eye_y - 0.06), 0.3) * m.step(m.abs(x), q.eye_x + 0.3)
    *rgb, label, line = m.branch(near_eyes, lambda: flatten(paint_eyes(m, q, x, y, fw, lw, rgb, label, line)),
                                 (*rgb, label, line))
    near_mouth = m.step(m.abs(y - q.mouth_y), 0.2) * m.step(m.abs(x), q.mouth_w + 0.08)
    *rgb, label, line = m.branch(near_mouth,
                                 lambda: flatten(paint_mouth(m, q, x, y, fw, lw, rgb, label, line)),
                                 (*rgb, label, line))
    return tuple(rgb), label, line, beard


def paint_eyes(m, q, x, y, fw, lw, rgb, label, line):
    """Eyes (sclera, iris, pupil, lid line) and brows."""
    for side, name in ((-1.0, "r_eye"), (1.0, "l_eye")):
        f, dx, dy, upper, lower = eye_lids(m, q, x, y, side)
        inside = coverage(m, f, fw)
        cx = side * q.eye_x + q.gaze
        iris_d = length2(m, x - cx, y - q.eye_y) - q.iris_r
        iris = coverage(m, iris_d, fw)
        pupil = coverage(m, iris_d + q.iris_r * 0.55, fw)
        eye_rgb = (0.93, 0.91, 0.88)
        eye_rgb = over(m, eye_rgb, (q.iris_r_c, q.iris_g_c, q.iris_b_c), iris)
        eye_rgb = over(m, eye_rgb, (0.04, 0.03, 0.03), pupil)
        lid_shade = 1.0 - 0.35 * m.smoothstep(-0.02, 0.02, dy - upper + 0.03)
        eye_rgb = tuple(c * lid_shade for c in eye_rgb)
        rgb = over(m, rgb, eye_rgb, inside)
        # lid line (thicker with eyeliner / lashes), running a little past the outer corner
        lid_w = lw * (1.0 + q.liner * 1.6)
        lid = m.max(m.abs(dy - upper - lid_w * 0.3) - lid_w * 0.5, m.abs(dx - 0.01) - q.eye_w - 0.015)
        lid_cov = coverage(m, lid, fw)
        rgb = over(m, rgb, (0.06, 0.04, 0.04), lid_cov * 0.9)
        line = m.max(line, lid_cov)
        label = m.select(m.step(0.5, inside), SEG[name], label)

    # brows
    for side, name in ((-1.0, "r_brow"), (1.0, "l_brow")):
        dx, t, centre = brow_curve(m, q, x, side)
        taper = 1.0 - 0.5 * m.smoothstep(-0.2, 1.0, t)
        thick = q.brow_th * taper * (1.0 + 0.2 * q.bushy * m.sin(dx * 110.0))
        f = m.max(m.abs(y - centre) - thick, m.abs(dx - 0.02) - q.brow_len)
        cov = coverage(m, f, fw)
        rgb = over(m, rgb, (q.brow_r, q.brow_g, q.brow_b), cov * (0.85 + 0.15 * q.bushy))
        label = m.select(m.step(0.5, cov), SEG[name], label)
    return tuple(rgb), label, line


def paint_mouth(m, q, x, y, fw, lw, rgb, label, line):
    """Lips, the dark interior and teeth."""
    w, t, centre, opening, top, bottom = mouth_shape(m, q, x)
    ax = m.abs(x)
    edge = ax - w
    upper = m.max(m.max(y - top, centre + opening - y), edge)
    lower = m.max(m.max(bottom - y, y - centre + opening), edge)
    hole = m.max(m.max(y - centre - opening, centre - opening - y), edge)
    up_cov, low_cov = coverage(m, upper, fw), coverage(m, lower, fw)
    hole_cov = coverage(m, hole, fw) * m.step(0.002, opening)
    lip_rgb = (q.lip_r, q.lip_g, q.lip_b)
    rgb = over(m, rgb, lip_rgb, up_cov)
    rgb = over(m, rgb, tuple(c * 1.08 for c in lip_rgb), low_cov)
    teeth = m.step(centre + opening * 0.1 - 0.012 * q.teeth_low, y) * m.step(ax, w * 0.75)
    inner = (m.mix(0.28, 0.93, teeth), m.mix(0.07, 0.9, teeth), m.mix(0.08, 0.84, teeth))
    rgb = over(m, rgb, inner, hole_cov)
    seam = m.max(m.abs(y - centre) - lw * 0.5, edge + 0.01)
    seam_cov = coverage(m, seam, fw) * (1.0 - hole_cov)
    rgb = over(m, rgb, (0.25, 0.08, 0.08), seam_cov * 0.8)
    line = m.max(line, seam_cov)
    label = m.select(m.step(0.5, up_cov), SEG["u_lip"], label)
    label = m.select(m.step(0.5, low_cov), SEG["l_lip"], label)
    label = m.select(m.step(0.5, hole_cov), SEG["mouth"], label)
    return tuple(rgb), label, line


def paint_hair(m, q, x, y, z, fw):
    theta = m.atan2(x, -(z - q.cr_cz))
    wave = m.sin(y * 15.0 + theta * 5.0) * q.wavy * 1.5
    period = 0.09
    fade = m.clamp(period / fw - 1.5, 0.0, 1.0)
    strands = 1.0 + (0.07 + 0.06 * q.straight) * fade * m.sin(theta * 70.0 + wave) \
        + 0.05 * fade * m.sin(theta * 23.0 + wave * 0.5 + q.hair_phase)
    part_cov = coverage(m, m.abs(x - q.hair_part) - 0.012, fw) * m.step(q.hairline + 0.12, y) * m.step(z, 0.2) \
        * (1.0 - q.bangs_part_off)
    shade = strands * (1.0 - 0.45 * part_cov)
    return (q.hair_r * shade, q.hair_g * shade, q.hair_b * shade)


# ----------------------------------------------------------------------------- glasses


def glasses_hit(m, q, ox, oy, oz, dx, dy, dz, sign):
    """Entry (sign -1) or exit (+1) hit of the ray with the lens surface, an elliptic cylinder
    wrapped around the face at eye height, so lenses and temples follow the head at any yaw."""
    X, Z = ox / q.g_a, (oz - q.g_cz) / q.g_b
    DX, DZ = dx / q.g_a, dz / q.g_b
    a = DX * DX + DZ * DZ + 1e-6
    b = 2.0 * (X * DX + Z * DZ)
    c = X * X + Z * Z - 1.0
    disc = b * b - 4.0 * a * c
    t = (-b + sign * m.sqrt(disc)) / (2.0 * a)
    valid = m.step(0.0, disc)
    gx, gy, gz = ox + dx * t, oy + dy * t, oz + dz * t
    u = q.g_a * m.atan2(gx / q.g_a, -(gz - q.g_cz) / q.g_b)
    return t, valid, u, gy, gx, gz


def glasses_shape(m, q, u, v, fw):
    """Frame and lens coverage at lens-surface coordinates (u, v)."""
    style = q.g_style
    au = m.abs(u)
    lu, lv = au - q.g_ue, v - q.eye_y
    round_ = length2(m, lu, lv * 1.05) - 0.135
    rect = rounded_box2(m, lu, lv, 0.15, 0.095, 0.03)
    thick = rounded_box2(m, lu, lv - 0.008, 0.155, 0.105, 0.045)
    aviator = length2(m, lu / 1.08, (lv + 0.02 * m.smoothstep(-0.1, 0.1, lu)) / 0.95) - 0.145
    lens = m.select(m.step(0.5, style), m.select(m.step(1.5, style),
                    m.select(m.step(2.5, style), aviator, thick), rect), round_)
    frame_w = m.max(q.g_frame, fw * 0.9)
    frame = m.abs(lens) - frame_w * 0.5
    bridge = m.max(m.abs(lv - 0.035) - frame_w * 0.5, au - q.g_ue + 0.1)
    temple = m.max(m.abs(lv - 0.045) - frame_w * 0.6, m.max(q.g_ue + 0.1 - au, au - q.g_a * 1.45))
    frame = m.min(frame, m.min(bridge, temple))
    return coverage(m, frame, fw), coverage(m, lens, fw)


def glasses_layer(m, q, ox, oy, oz, dx, dy, dz, t_surface, fw, sign):
    t, valid, u, v, gx, gz = glasses_hit(m, q, ox, oy, oz, dx, dy, dz, sign)
    in_front = m.step(t, t_surface - 0.004) * valid
    frame, lens = glasses_shape(m, q, u, v, fw)
    frame = frame * in_front * q.glasses
    lens = lens * in_front * q.glasses
    # frame shading from the cylinder normal
    nx, nz = gx / (q.g_a * q.g_a), (gz - q.g_cz) / (q.g_b * q.g_b)
    inv = 1.0 / m.sqrt(nx * nx + nz * nz + 1e-8)
    lit = m.clamp(nx * inv * q.lx + nz * inv * q.lz, 0.0, 1.0)
    light = 0.55 + 0.6 * lit
    shine = m.smoothstep(0.015, 0.0, m.abs(v - q.eye_y - 0.05 - u * 0.15)) * 0.35
    frame_rgb = (q.frame_r * light + shine, q.frame_g * light + shine, q.frame_b * light + shine)
    lens_rgb = (q.lens_r + shine, q.lens_g + shine, q.lens_b + shine)
    return frame, lens, frame_rgb, lens_rgb, t


# ----------------------------------------------------------------------------- shading


def lit_surface(m, q, ox, oy, oz, dx, dy, dz, t, nx, ny, nz):
    """Colour (lit), label and line weight of the surface point the ray reached."""
    x, y, z = ox + dx * t, oy + dy * t, oz + dz * t
    parts = scene_parts(m, q, x, y, z)
    best = parts["head"]
    label = SEG["skin"] + 0.0 * x
    is_face = 1.0 + 0.0 * x
    for key, seg in (("nose", SEG["nose"]), ("ear", None), ("neck", SEG["neck"]),
                     ("cloth", SEG["cloth"]), ("hair", SEG["hair"])):
        d = parts[key]
        closer = m.step(d, best - 1e-5)
        if seg is None:
            seg = m.select(m.step(0.0, x), SEG["l_ear"], SEG["r_ear"])
        label = m.select(closer, seg, label)
        is_face = m.select(closer, 1.0 if key == "nose" else 0.0, is_face)
        best = m.min(best, d)
    # nose and skin blend into one surface; call it nose only where the nose is clearly nearer
    is_nose = m.step(parts["nose"], parts["head"] - 0.004)
    label = m.select(m.step(0.5, is_face), m.select(is_nose, SEG["nose"], SEG["skin"]), label)

    facing = m.abs(nx * dx + ny * dy + nz * dz)
    fw = q.pix / m.max(facing, 0.3)
    skin_rgb = (q.skin_r, q.skin_g, q.skin_b)
    fr, fg, fb, face_label, face_line, beard = m.branch(
        is_face, lambda: flatten(paint_face(m, q, x, y, z, fw)),
        (q.skin_r, q.skin_g, q.skin_b, label, 0.0 * x, 0.0 * x))
    face_rgb = (fr, fg, fb)
    is_hair, is_neck, is_cloth = (m.step(-0.5, -m.abs(label - SEG[k])) for k in ("hair", "neck", "cloth"))
    hair_rgb = m.branch(is_hair, lambda: paint_hair(m, q, x, y, z, fw), (q.hair_r, q.hair_g, q.hair_b))
    neck_rgb = tuple(c * 0.88 for c in skin_rgb)
    cloth_rgb = (q.cloth_r, q.cloth_g, q.cloth_b)
    albedo = []
    for i in range(3):
        c = m.select(m.step(0.5, is_face), face_rgb[i], skin_rgb[i])
        c = m.select(is_neck, neck_rgb[i], c)
        c = m.select(is_cloth, cloth_rgb[i], c)
        c = m.select(is_hair, hair_rgb[i], c)
        albedo.append(c)
    label = m.select(m.step(0.5, is_face), m.select(m.step(SEG["l_brow"] - 0.5, face_label),
                                                    face_label, label), label)
    line = face_line * is_face

    # light: Lambert + hemisphere ambient + Blinn specular (sharper and stronger on hair)
    diffuse = m.clamp(nx * q.lx + ny * q.ly + nz * q.lz, 0.0, 1.0)
    ambient = q.amb * (0.8 + 0.2 * ny)
    hx, hy, hz = q.lx - dx, q.ly - dy, q.lz - dz
    hinv = 1.0 / m.sqrt(hx * hx + hy * hy + hz * hz + 1e-8)
    spec_dot = m.clamp((nx * hx + ny * hy + nz * hz) * hinv, 0.0, 1.0)
    shininess = m.mix(18.0, 40.0, is_hair)
    spec = m.pow(spec_dot, shininess) * m.mix(0.12 * (1.0 - beard * 0.8), 0.22, is_hair)
    light = (q.light_r, q.light_g, q.light_b)
    r, g, b = (albedo[i] * (ambient + diffuse * light[i]) + spec * light[i] for i in range(3))
    return r, g, b, label, line


def flatten(result):
    """((r, g, b), a, b, ...) -> (r, g, b, a, b, ...)"""
    return (*result[0], *result[1:])


def background(m, q, sy):
    """The backdrop: a vertical gradient between two colours."""
    g = m.clamp(0.5 + sy * 0.4, 0.0, 1.0)
    return (m.mix(q.bg_bot_r, q.bg_top_r, g), m.mix(q.bg_bot_g, q.bg_top_g, g),
            m.mix(q.bg_bot_b, q.bg_top_b, g))


def glasses_reach(m, q, ox, oy, oz, dx, dy, dz, margin):
    """1 where a ray passes within about `margin` of where the glasses can be drawn (the band of
    the lens surface round the eyes, either side), else 0: the depth pre-pass keeps such pixels
    even where no surface is near, since frames stand out past the cheek at large yaw."""
    def band():
        reach = 0.0 * ox
        for sign in (1.0, -1.0):
            _, valid, u, v, _, _ = glasses_hit(m, q, ox, oy, oz, dx, dy, dz, sign)
            near = m.step(m.abs(v - q.eye_y), 0.2 + margin) * m.step(m.abs(u), q.g_a * 1.5 + margin)
            reach = m.max(reach, near * valid)
        return reach

    return when(m, q, "glasses", band, 0.0 * ox)


def shade(m, q, ox, oy, oz, dx, dy, dz, t, cover, nx, ny, nz, sx, sy):
    """Final colour, label and line weight of a pixel, given the marched hit (or near miss)."""
    bg = background(m, q, sy)
    *surface, label, line = m.branch(
        m.step(0.004, cover), lambda: lit_surface(m, q, ox, oy, oz, dx, dy, dz, t, nx, ny, nz),
        (*bg, SEG["background"] + 0.0 * sy, 0.0 * sy))
    rgb = [m.mix(bg[i], surface[i], cover) for i in range(3)]
    label = m.select(m.step(0.5, cover), label, SEG["background"])
    line = line * m.step(0.5, cover)
    t_surface = m.select(m.step(0.5, cover), t, 1e3)

    # glasses: the far side first, then the near side over it
    rgb, label, line = draw_glasses_gated(m, q, ox, oy, oz, dx, dy, dz, t_surface, rgb, label, line)
    rgb = [m.clamp(c, 0.0, 1.0) for c in rgb]
    return rgb[0], rgb[1], rgb[2], label, line


def draw_glasses_gated(m, q, ox, oy, oz, dx, dy, dz, t_surface, rgb, label, line):
    flat = when(m, q, "glasses", lambda: draw_glasses(m, q, ox, oy, oz, dx, dy, dz, t_surface, rgb, label, line),
                (*rgb, label, line))
    return list(flat[:3]), flat[3], flat[4]


def draw_glasses(m, q, ox, oy, oz, dx, dy, dz, t_surface, rgb, label, line):
    for sign in (1.0, -1.0):
        frame, lens, frame_rgb, lens_rgb, tg = glasses_layer(m, q, ox, oy, oz, dx, dy, dz,
                                                             t_surface, q.pix, sign)
        lens_alpha = lens * q.lens_alpha * (1.0 - frame)
        rgb = [m.mix(rgb[i], lens_rgb[i], lens_alpha) for i in range(3)]
        rgb = [m.mix(rgb[i], frame_rgb[i], frame) for i in range(3)]
        on = m.step(0.5, m.max(frame, lens * m.step(0.5, q.glasses)))
        label = m.select(on, SEG["eye_g"], label)
        line = m.max(line * (1.0 - frame), frame * m.step(0.5, frame))
        t_surface = m.select(m.step(0.5, frame), tg, t_surface)
    return (*rgb, label, line)
