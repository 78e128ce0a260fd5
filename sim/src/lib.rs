//! Simulator: drive contributors along OSM roads and render dashcam frames with ground truth.
