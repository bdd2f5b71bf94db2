"""Face payment at store devices (modelled on WeChat Pay's and Alipay's face pay): adapter,
wire models, signatures, a device simulator and a sandbox of the face-pay service."""

from juhe.channels.facepay.adapter import FacePayChannel, FacePayConfig
from juhe.channels.facepay.wire import FaceCheck

__all__ = ["FaceCheck", "FacePayChannel", "FacePayConfig"]
