//! Mapbuild: fuse detections from many frames into positioned map features, and per-cell coverage.
