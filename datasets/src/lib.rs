//! Datasets: Parquet datasets on object_store with atomic manifests, queried through DataFusion.
