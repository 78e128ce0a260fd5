//! Criterion benchmarks for streetcomb.
