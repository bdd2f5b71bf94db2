"""A store's face-pay device, simulated: what the wallet's face SDK does on a registered device.

The real SDK captures the face, scores liveness and sends the features straight to the
wallet's cloud, which hands back an opaque single-use face token; the merchant's server only
ever sees that token. Here the capture is the enrolled template plus noise, and the cloud is
the sandbox's `POST /sandbox/face/tokens`.
"""

from __future__ import annotations

import random
from typing import Sequence

import httpx

from juhe.channels.facepay import faces, wire

CAPTURE_TIMEOUT_S = 5.0


class FaceDeviceError(Exception):
    """The face service refused the capture (say, an unregistered device); the text says why."""


class FaceDevice:
    def __init__(self, base_url: str, device_id: str, *, seed: int | None = None):
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self.rng = random.Random(seed)

    def capture(self, template: Sequence[float], *, noise: float = 0.2, liveness: float = 0.98) -> str:
        """A face token for this face in front of the camera. `noise` 0.2 gives a similarity of
        about 0.98 to the template; 1.0 about 0.71, below the match threshold."""
        probe = faces.noisy_capture(template, noise, self.rng)
        capture = wire.Capture(device_id=self.device_id, probe=list(probe), liveness=liveness)
        answer = httpx.post(
            f"{self.base_url}/sandbox/face/tokens", content=capture.model_dump_json(),
            headers={"Content-Type": "application/json"}, timeout=CAPTURE_TIMEOUT_S,
        )  # fmt: skip
        if answer.status_code != 200:
            raise FaceDeviceError(f"capture refused ({answer.status_code}): {answer.text[:300]}")
        return wire.FaceToken.model_validate_json(answer.content).face_token
