//! Replays fuzzing results in the normal test suite (CI runs no fuzzer):
//! every file in `tests/fuzz_regressions/` (inputs that once crashed, hung
//! or broke an invariant) and the minimised corpora in `fuzz/corpus/`, all
//! through the very checks the fuzz targets run (`mkvcast_testkit::fuzz`).
//! See TESTING.md, "Fuzzing".

use std::path::{Path, PathBuf};

use mkvcast_testkit::fuzz as fuzz_checks;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `check` on every file, naming the file if it panics.
fn replay(files: &[PathBuf], check: fn(&[u8])) {
    for f in files {
        let data = std::fs::read(f).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{}: {msg}", f.display());
        }
    }
}

#[test]
fn saved_fuzz_findings_pass_every_target() {
    let files: Vec<PathBuf> = files_in(&root().join("tests/fuzz_regressions"))
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    replay(&files, fuzz_checks::check_ebml);
    replay(&files, fuzz_checks::check_segmenter);
    replay(&files, fuzz_checks::check_chunked);
    replay(&files, fuzz_checks::check_remux);
}

#[test]
fn minimised_ebml_corpus() {
    let files = files_in(&root().join("fuzz/corpus/ebml"));
    assert!(files.len() >= 10, "fuzz/corpus/ebml is missing");
    replay(&files, fuzz_checks::check_ebml);
}

#[test]
fn minimised_segmenter_corpus() {
    let files = files_in(&root().join("fuzz/corpus/segmenter"));
    assert!(files.len() >= 10, "fuzz/corpus/segmenter is missing");
    replay(&files, fuzz_checks::check_segmenter);
}

#[test]
fn minimised_chunked_corpus() {
    let files = files_in(&root().join("fuzz/corpus/chunked"));
    assert!(files.len() >= 10, "fuzz/corpus/chunked is missing");
    replay(&files, fuzz_checks::check_chunked);
}

#[test]
fn remux_over_the_segmenter_corpus() {
    let files = files_in(&root().join("fuzz/corpus/segmenter"));
    assert!(files.len() >= 10, "fuzz/corpus/segmenter is missing");
    replay(&files, fuzz_checks::check_remux);
    // The replay reaches the remux: most of the corpus has a carried
    // track (351 files, 571 segments when this was written).
    let remuxed = files
        .iter()
        .filter_map(|f| {
            let data = std::fs::read(f).unwrap();
            mkvcast_testkit::fmp4::remux_stream(&data, 4096, 200_000_000).ok()?
        })
        .filter(|r| !r.segments.is_empty())
        .count();
    assert!(remuxed >= 200, "only {remuxed} corpus files give segments");
}
