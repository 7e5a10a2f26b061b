//! Matroska specifics on top of EBML: element IDs, the live stream header,
//! and the cluster scan.

pub mod attachments;
mod block;
pub mod cluster;
pub mod header;
pub mod ids;
mod split;
#[cfg(test)]
pub(crate) mod test_writer;
pub mod tracks;
