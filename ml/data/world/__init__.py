"""The synthetic face world: procedural 3-D heads with exact labels and counterfactuals.

    from ml.data.world import FaceWorld, ATTRIBUTES, SEGMENT_CLASSES
    world = FaceWorld(size=128, correlation=1.0, backend="auto")  # "torch" | "gl" | "auto"
    params = world.sample(n, seed=0, identities=None)  # FaceParams; identity ids derive from the seed
    batch = world.render(params)                       # RenderBatch
    params.with_attribute("Smiling", 1.0, style=None)  # counterfactual parameters
    params.with_style("Eyeglasses_color", 2)
    params.with_pose(yaw=0.0, pitch=0.0, roll=0.0)     # e.g. the frontal view
    world.fingerprint()                                # hash of generator version + settings

How it draws: each head is a signed-distance scene (skull, jaw, chin, cheekbones, brow ridge, lips,
nose, ears, neck, clothes, hair shell with hairline, fringe and a long-hair curtain) sphere-traced
by an orthographic camera; eyes, brows, lips, facial hair, makeup and wrinkles are painted in the
head's frontal surface coordinates, so they turn and hide with the head; glasses lie on an
elliptic cylinder wrapped round the face at eye height. The formulas live once in `scene.py`;
the torch backend runs them on tensors (reference), the GL backend traces them into a GLSL shader
run by Mesa llvmpipe (needs `moderngl`, `glcontext` and libEGL; "auto" falls back to torch).

FaceParams (numpy, batch first): identity int64 [N]; shape float32 [N, len(IDENTITY_FIELDS)]
(head/jaw/chin/cheekbones/brow ridge, eye spacing/height/size/tilt, iris, brow height/length/
tilt, nose length/width/projection/tip, mouth height/width, lips, ears, skin tone and undertone,
hair tint/length/part/volume/hairline, neck, gaze); intensities float32 [N, len(ATTRIBUTES)] in
[0, 1] (label +1 where > 0.5); styles {key: int64 [N]} (see STYLES); pose float32 [N, 3] yaw, pitch,
roll in degrees (yaw in -75..75, positive turns the face toward the image's right); scene float32
[N, len(SCENE_FIELDS)] (light direction, colour, strength, ambient, background, clothes).
Identity fields and the person's own attributes (hair colour, Male, Young, Big_Nose, ...) come
from the identity id; expression, grooming, accessories, pose and light from the seed.
Note: No_Beard's intensity is 1 - beard amount; Young's is 1 - age.

RenderBatch fields (numpy): image uint8 [N,H,W,3]; segmentation uint8 [N,H,W] (SEGMENT_CLASSES);
sketch uint8 [N,H,W] (0 background, 255 line: class boundaries plus eyelids, lip seam, wrinkles,
glasses frames); landmarks float32 [N,68,2] pixel (x, y) in the iBUG/dlib 68-point layout;
landmark_visible bool [N,68]; attributes int8 [N,len(ATTRIBUTES)] +/-1; intensities float32;
styles {key: int64 [N]} with -1 where the attribute is off; identity int64 [N]; pose float32
[N,3]; depth float32 [N,H,W] camera depth (1e3 on background).

SEGMENT_CLASSES (id -> CelebAMask-HQ name): 0 background, 1 skin, 2 l_brow, 3 r_brow, 4 l_eye,
5 r_eye, 6 eye_g, 7 l_ear, 8 r_ear, 9 ear_r, 10 nose, 11 mouth, 12 u_lip, 13 l_lip, 14 neck,
15 neck_l, 16 cloth, 17 hair, 18 hat. l_* is the subject's left (the image's right in a frontal
view). Facial hair is labelled skin, as in CelebAMask-HQ; glasses (frame and lens) are eye_g.
ear_r (earrings), neck_l (necklaces) and hat are never drawn.
"""
from .params import ATTRIBUTES, STYLES, IDENTITY_FIELDS, SCENE_FIELDS, FaceParams
from .scene import SEGMENT_CLASSES
from .world import GENERATOR_VERSION, FaceWorld, RenderBatch

__all__ = [
    "ATTRIBUTES", "STYLES", "IDENTITY_FIELDS", "SCENE_FIELDS", "SEGMENT_CLASSES", "FaceParams",
    "FaceWorld", "RenderBatch", "GENERATOR_VERSION",
]
