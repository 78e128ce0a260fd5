"""Make models/centerface_int8.onnx: CenterFace with 8-bit weights and activations.

The face pass is most of the vision stage's time on a CPU. Static int8 quantization
(QDQ, weights per channel) runs CenterFace 2.3x faster on x86 (1080p frame, full
pass at 1280 plus the three band tiles: 372 -> 169 ms on one core), and on the
labelled faces of testdata/faces, whole and shrunk to 12-30 px (vision/examples/
face_scan.rs), it finds the same faces as the float model at max_side 1280.

Activation ranges are the min/max seen over the calibration pictures, fed the way
the face pass feeds them: the 1080p frame scaled to 1152 wide, and a 1:1 tile of the
band where distant pedestrians stand. The pictures are the real backgrounds of the
plate training set (training/plates/setup.sh fetches them) minus the labelled faces,
which stay for evaluation.

usage (the venv of benches/scripts/vision-requirements.txt has onnx and onnxruntime):
    python3 quantize-centerface.py CENTERFACE.onnx BACKGROUND_DIR OUT.onnx
where CENTERFACE.onnx is the patched float model scripts/setup.sh installs.
"""

import pathlib
import sys
import tempfile

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

INPUT = "input.1"


def padded(a: np.ndarray, m: int = 32) -> np.ndarray:
    """HWC float picture -> NCHW padded to multiples of m, as vision's nchw_padded."""
    h, w = a.shape[:2]
    out = np.zeros((-(-h // m) * m, -(-w // m) * m, 3), np.float32)
    out[:h, :w] = a
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None])


def calibration_inputs(pictures):
    for p in pictures:
        im = Image.open(p).convert("RGB")
        s = max(1920 / im.width, 1080 / im.height)
        size = (round(im.width * s), round(im.height * s))
        frame = im.resize(size, Image.BILINEAR).crop((0, 0, 1920, 1080))
        yield padded(np.asarray(frame.resize((1152, 648), Image.BILINEAR), np.float32))
        yield padded(np.asarray(frame, np.float32)[270:810, 617:1303])


class Reader(CalibrationDataReader):
    def __init__(self, pictures):
        self.inputs = ({INPUT: x} for x in calibration_inputs(pictures))

    def get_next(self):
        return next(self.inputs, None)


def main(src: str, backgrounds: str, dst: str) -> None:
    pictures = sorted(
        p
        for p in pathlib.Path(backgrounds).iterdir()
        if p.suffix in (".jpg", ".png") and "testdata_faces" not in p.name
    )
    if not pictures:
        sys.exit(f"no calibration pictures in {backgrounds}")
    with tempfile.TemporaryDirectory() as tmp:
        # Per-channel weights need opset 13 (DequantizeLinear's axis); CenterFace is opset 9.
        opset13 = f"{tmp}/opset13.onnx"
        onnx.save(version_converter.convert_version(onnx.load(src), 13), opset13)
        pre = f"{tmp}/pre.onnx"
        quant_pre_process(opset13, pre, skip_symbolic_shape=True)
        quantize_static(
            pre,
            dst,
            Reader(pictures),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    print(f"{dst}: calibrated on {len(pictures)} pictures")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
