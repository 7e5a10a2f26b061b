//! Matroska specifics on top of EBML: element IDs, the live stream header,
//! and the cluster scan.

pub mod cluster;
pub mod header;
pub mod ids;
