//! Ingest: parse drives, geotag frames by time interpolation, reject what cannot be placed.
