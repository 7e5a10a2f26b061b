//! The bundled fixtures as the segmenter serves them, for unit tests.

use std::sync::Arc;

use crate::matroska::header::StreamHeader;
use crate::segmenter::{segment_all, Event, LiveCluster};

/// The stream header and served clusters of `fixtures/NAME`.
pub(crate) fn fixture(name: &str) -> (Arc<StreamHeader>, Vec<LiveCluster>) {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let (events, _) = segment_all(&std::fs::read(path).unwrap(), 1 << 16).unwrap();
    let mut header = None;
    let mut clusters = Vec::new();
    for e in events {
        match e {
            Event::Header(h) => header = header.or(Some(h)),
            Event::Cluster(c) => clusters.push(c),
            Event::ClusterStart { .. } | Event::Block(_) => {}
        }
    }
    (header.unwrap(), clusters)
}
