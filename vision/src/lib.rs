//! Vision: privacy blur (CenterFace) and map-feature detection (COCO-SSD) through ONNX Runtime.
