"""Camera effects shared by the synthetic-data generators (plates, signs): a cast
shadow, motion blur or defocus, sensor noise and JPEG. Each generator keeps its own
strengths and order of effects; these are the steps themselves, drawing from the
generator's numpy Generator in a fixed order so seeded data stay reproducible."""
import math

import cv2
import numpy as np


def cast_shadow(rng, img, darken_lo):
    """Darkens one random half-plane of float img in place by x[darken_lo, 0.8)."""
    H, W = img.shape[:2]
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:H, 0:W]
    s = (xx - W * rng.random()) * math.cos(a) + (yy - H * rng.random()) * math.sin(a) > 0
    img[s] *= rng.uniform(darken_lo, 0.8)


def camera_blur(rng, img, motion_p, defocus_p, max_blur, defocus_max):
    """uint8 img with motion blur (3..max_blur px, any angle) with probability
    motion_p, else defocus (sigma 0.5..defocus_max) up to probability defocus_p."""
    r = rng.random()
    if r < motion_p:
        k = int(rng.integers(3, max_blur + 1))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2] = 1.0
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        ker = cv2.warpAffine(ker, rot, (k, k))
        ker /= max(ker.sum(), 1e-6)
        return cv2.filter2D(img, -1, ker)
    if r < defocus_p:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, defocus_max))
    return img


def noise_and_jpeg(rng, img, q_lo, q_hi):
    """Sensor noise (half the time) on uint8 img, then a JPEG round trip at a quality
    drawn from [q_lo, q_hi)."""
    if rng.random() < 0.5:
        img = np.clip(img + rng.normal(0, rng.uniform(1, 6), img.shape), 0, 255).astype(np.uint8)
    q = int(rng.integers(q_lo, q_hi))
    ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)


def turned_corners(rng, w, h, max_deg, base, depth):
    """The corners of a w x h rectangle turned by random yaw, pitch and roll (up to
    max_deg = (yaw, pitch, roll) degrees) and seen through a pinhole camera at
    base * U(depth) from it: 4x2 points, clockwise from top-left, in units of the
    rectangle, not yet scaled or placed."""
    yaw = math.radians(rng.uniform(-max_deg[0], max_deg[0]))
    pitch = math.radians(rng.uniform(-max_deg[1], max_deg[1]))
    roll = math.radians(rng.uniform(-max_deg[2], max_deg[2]))
    cy_, sy_ = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    Ry = np.array([[cy_, 0, sy_], [0, 1, 0], [-sy_, 0, cy_]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    R = Rz @ Rx @ Ry
    pts = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    p = pts @ R.T
    dist = base * rng.uniform(*depth)
    return p[:, :2] * dist / (p[:, 2:3] + dist)
