//! Criterion benchmarks of the pure stages on synthetic input.

use std::collections::HashMap;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use streetcomb_benches::synthetic_city;

fn fuse(c: &mut Criterion) {
    let mut g = c.benchmark_group("mapbuild_fuse");
    g.sample_size(10);
    for drives in [10usize, 100] {
        let (frames, dets) = synthetic_city(drives, 250);
        g.throughput(Throughput::Elements(dets.len() as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(dets.len()),
            &(frames, dets),
            |b, (f, d)| b.iter(|| streetcomb_mapbuild::fuse(f, d, &Default::default())),
        );
    }
    g.finish();
}

fn rewards(c: &mut Criterion) {
    let mut g = c.benchmark_group("rewards_epoch");
    g.sample_size(10);
    let (frames, _) = synthetic_city(100, 250);
    let epoch = streetcomb_core::Epoch::of(frames[0].captured_at);
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function(BenchmarkId::from_parameter(frames.len()), |b| {
        b.iter(|| {
            streetcomb_rewards::score_epoch(epoch, &frames, &HashMap::new(), &Default::default())
        })
    });
    g.finish();
}

criterion_group!(benches, fuse, rewards);
criterion_main!(benches);
