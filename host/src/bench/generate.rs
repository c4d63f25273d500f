//! `trailtag bench generate`: benchmark data from the real corpus, any size, deterministic.
//!
//! Each output record is a real corpus record (uniformly drawn, so the corpus's mix of services,
//! sizes and shapes is kept) or, with probability `--positives`, a record that matches a built-in
//! rule (the corpus's own positives and the built-in rules' matching examples). Every record gets
//! a fresh `eventID` and an `eventTime` that advances 10 ms per record from 2026-01-01; nothing
//! else is changed, so the bytes stay those of real CloudTrail. The same seed and arguments give
//! the same file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use flate2::Compression;
use flate2::write::GzEncoder;
use trailtag_engine::framing::to_one_line;
use trailtag_engine::{Detector, Options, Scratch, Verdict};

use super::SplitMix64;
use crate::units::parse_size;

/// `trailtag bench generate`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The real corpus to expand: a folder of NDJSON files (gzip or not).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "../shared/data/cloudtrail/corpus"
    )]
    pub corpus: PathBuf,
    /// Uncompressed size to write (e.g. 100MiB, 1GiB, 2GiB).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub size: u64,
    /// Fraction of records that match at least one built-in rule.
    #[arg(long, default_value_t = 0.001)]
    pub positives: f64,
    /// Seed of the pseudo-random draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Gzip the output.
    #[arg(long)]
    pub gzip: bool,
    /// NDJSON (one record per line) or one CloudTrail S3 delivery document (`{"Records":[...]}`
    /// on a single line, as CloudTrail writes it, however large).
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    pub format: Format,
    /// Where to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One record per line.
    Ndjson,
    /// One `{"Records":[...]}` document.
    S3,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    /// Records written.
    pub records: u64,
    /// Uncompressed bytes written.
    pub bytes: u64,
    /// Records drawn from the positive pool.
    pub positives: u64,
}

/// Writes the benchmark file.
pub fn generate(args: &GenerateArgs) -> Result<Generated> {
    if !(0.0..=1.0).contains(&args.positives) {
        bail!("--positives must be a fraction between 0 and 1");
    }
    let (negatives, positives) = pools(&args.corpus)?;
    let file = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let sink: Box<dyn Write> = if args.gzip {
        Box::new(GzEncoder::new(file, Compression::fast()))
    } else {
        Box::new(file)
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let mut rng = SplitMix64::new(args.seed);
    let mut written = Generated {
        records: 0,
        bytes: 0,
        positives: 0,
    };
    let (open, separator, close): (&[u8], &[u8], &[u8]) = match args.format {
        Format::Ndjson => (b"", b"\n", b"\n"),
        Format::S3 => (b"{\"Records\":[", b",", b"]}"),
    };
    out.write_all(open)?;
    while written.bytes < args.size {
        let positive = rng.unit() < args.positives;
        let pool = if positive { &positives } else { &negatives };
        let record = refresh(&pool[rng.below(pool.len())], written.records, &mut rng);
        if written.records > 0 {
            out.write_all(separator)?;
        }
        out.write_all(&record)?;
        written.records += 1;
        written.bytes += record.len() as u64 + 1;
        written.positives += u64::from(positive);
    }
    out.write_all(close)?;
    out.into_inner().map_err(|e| e.into_error())?.flush()?;
    Ok(written)
}

/// Records to draw from.
type Pool = Vec<Vec<u8>>;

/// The corpus split into records that match nothing and records that match a built-in rule,
/// plus the built-in rules' matching examples.
fn pools(corpus: &Path) -> Result<(Pool, Pool)> {
    let detector = Detector::builtin()?;
    let (mut negatives, mut positives) = (Vec::new(), Vec::new());
    for record in corpus_records(corpus)? {
        match detector.tag_record(
            &record,
            &Options::default(),
            &mut Scratch::default(),
            &mut Vec::new(),
        ) {
            Verdict::Tagged => positives.push(record),
            _ => negatives.push(record),
        }
    }
    let examples = detector
        .rules()
        .iter()
        .flat_map(|r| r.examples())
        .filter(|e| e.matches);
    positives.extend(examples.map(|e| to_one_line(e.record.as_bytes())));
    if negatives.is_empty() || positives.is_empty() {
        bail!("{} holds no usable records", corpus.display());
    }
    Ok((negatives, positives))
}

fn corpus_records(corpus: &Path) -> Result<Vec<Vec<u8>>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus)
        .with_context(|| format!("reading the corpus folder {}", corpus.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    let mut records = Vec::new();
    for file in files {
        let mut bytes = Vec::new();
        let mut reader = crate::input::open(Some(&file), Default::default())?;
        std::io::Read::read_to_end(reader.reader(), &mut bytes)?;
        records.extend(
            trailtag_engine::lines(&bytes)
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    Ok(records)
}

/// The record with a new `eventID` and `eventTime` (when it has them).
fn refresh(record: &[u8], index: u64, rng: &mut SplitMix64) -> Vec<u8> {
    let id = uuid(rng);
    let time = format_utc(EPOCH_2026 + index / 100);
    let with_id = set_string(record, "eventID", &id);
    set_string(&with_id, "eventTime", &time)
}

/// 2026-01-01T00:00:00Z in seconds since the Unix epoch.
const EPOCH_2026: u64 = 1_767_225_600;

fn uuid(rng: &mut SplitMix64) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Replaces the string value of the first `"key":"..."` (no escapes inside), if present.
fn set_string(record: &[u8], key: &str, value: &str) -> Vec<u8> {
    let needle = format!("\"{key}\":\"");
    let Some(start) = memchr::memmem::find(record, needle.as_bytes()).map(|i| i + needle.len())
    else {
        return record.to_vec();
    };
    let Some(len) =
        memchr::memchr2(b'"', b'\\', &record[start..]).filter(|&l| record[start + l] == b'"')
    else {
        return record.to_vec();
    };
    [&record[..start], value.as_bytes(), &record[start + len..]].concat()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (Howard Hinnant's civil-from-days).
fn format_utc(seconds: u64) -> String {
    let (days, rem) = (seconds / 86_400, seconds % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_ids_and_replacements() {
        assert_eq!(format_utc(EPOCH_2026), "2026-01-01T00:00:00Z");
        assert_eq!(
            format_utc(EPOCH_2026 + 59 * 86_400 + 3_661),
            "2026-03-01T01:01:01Z"
        );
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        let id = uuid(&mut SplitMix64::new(1));
        assert_eq!((id.len(), &id[14..15]), (36, "4"));
        assert_eq!(
            set_string(br#"{"a":{"eventID":"x"},"eventID":"y"}"#, "eventID", "z"),
            br#"{"a":{"eventID":"z"},"eventID":"y"}"#
        );
        assert_eq!(set_string(br#"{"b":1}"#, "eventID", "z"), br#"{"b":1}"#);
    }
}
