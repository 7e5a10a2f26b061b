//! What the segmenter counts, for logs and the status page.

/// Counters of what was read, emitted and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes fed to the segmenter.
    pub bytes_in: u64,
    /// Stream headers emitted ([`Event::Header`](super::Event::Header)).
    pub headers: u64,
    /// Clusters emitted ([`Event::Cluster`](super::Event::Cluster)), splits
    /// included.
    pub clusters: u64,
    /// Clusters split at a keyframe (each split adds one segment).
    pub splits: u64,
    /// Bytes passed over while resynchronising or dropping damaged or
    /// oversized clusters.
    pub bytes_skipped: u64,
    /// Times the parser lost sync and scanned for the next Cluster.
    pub resyncs: u64,
}
