//! Matroska specifics on top of EBML: element IDs, the live stream header
//! (`header`, with `tracks` and the `attachments` rule), and the cluster
//! scan (`cluster`, with the `block` header scan and the keyframe `split`).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod attachments;
mod block;
pub mod cluster;
pub mod header;
pub mod ids;
mod split;
#[cfg(test)]
pub(crate) mod test_writer;
pub mod tracks;
