//! `trailtag bench`: reproducible throughput and memory figures.
//!
//! - [`generate`]: expands the real corpus into a file of any size (new ids and times, the
//!   corpus's mix, a chosen fraction of records that match a built-in rule), deterministically.
//! - [`measure`]: one measurement (a mode: native engine, module through the batch ABI, module
//!   through the Fluent Bit ABI; a rule set) in its own process, so that each reports its own
//!   peak memory.
//! - [`run`]: every mode and rule set over one file, plus the CLI end to end, as a table.
//! - [`serve`]: the sidecar under load on loopback (many clients, a SIGHUP mid-load), through
//!   [`client`], which the integration tests use too.
//!
//! `BENCHMARKS.md` has the method, the commands and the results.

pub mod client;
pub mod generate;
pub mod measure;
pub mod ruleset;
pub mod run;
pub mod serve;

/// Deterministic pseudo-random numbers (SplitMix64). Written here rather than taken from
/// `rand` because the benchmark data must be identical across platforms and crate versions
/// for a given seed, which `rand`'s `StdRng` does not promise.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A uniform float in [0, 1).
    #[expect(
        clippy::cast_precision_loss,
        reason = "53 random bits make an exact f64 in [0, 1)"
    )]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
