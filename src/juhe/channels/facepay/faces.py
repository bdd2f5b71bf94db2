"""Face templates as the sandbox and the device simulator handle them: synthetic feature
vectors (what a face-embedding model outputs), never images. Pure functions.

Real face-pay services keep a template per enrolled user and compare the probe a device
captured against them by cosine similarity; the device's face SDK also scores liveness
(a live face, not a photo or a mask). These are the sandbox's stand-ins for both.
"""

from __future__ import annotations

import math
import random
from typing import Mapping, Sequence

TEMPLATE_DIM = 128  # the embedding size of FaceNet-style models
MATCH_THRESHOLD = 0.80  # cosine similarity at or above which a probe is this person's face
LIVENESS_MIN = 0.90  # liveness score below which the capture may be a photo or a mask


def unit(vector: Sequence[float]) -> tuple[float, ...]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if not norm or not math.isfinite(norm):
        raise ValueError("a face template needs a finite, non-zero length")
    return tuple(x / norm for x in vector)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Similarity of two unit vectors, in [-1, 1]."""
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def matches(probe: Sequence[float], templates: Mapping[str, Sequence[float]]) -> list[tuple[float, str]]:
    """(score, user id) of every enrolled user the probe matches, best first."""
    scored = ((cosine(probe, template), user_id) for user_id, template in templates.items())
    return sorted((hit for hit in scored if hit[0] >= MATCH_THRESHOLD), reverse=True)


def synthetic_template(rng: random.Random) -> tuple[float, ...]:
    """A made-up person's face template."""
    return unit([rng.gauss(0.0, 1.0) for _ in range(TEMPLATE_DIM)])


def noisy_capture(template: Sequence[float], noise: float, rng: random.Random) -> tuple[float, ...]:
    """The same face captured again: each component off by `noise` times a component's typical
    size, so the expected similarity to the template is about 1 / sqrt(1 + noise²)."""
    spread = noise / math.sqrt(len(template))
    return unit([x + rng.gauss(0.0, spread) for x in unit(template)])
