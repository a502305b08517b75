//! connseq's benchmarks: the side-by-side runs against HAProxy 2.6 and the
//! direct path ([`side`], the `side-by-side` binary), and the criterion
//! micro benches under `benches/`. docs/performance.md has the results.

pub mod side;
