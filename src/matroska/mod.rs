//! Matroska specifics on top of EBML: element IDs, the live stream header
//! ([`header`], built by `builder` with `tracks` and the `attachments`
//! rule), and the cluster as served ([`cluster`], made by the `block`
//! header scan and the keyframe `split`, written by `piece`), whose
//! children can also be handed out one by one as they are read (`live`).
//!
//! Only the types a server hands out are public; the parsers are the
//! crate's (the project's tests reach a few through `crate::internals`).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod attachments;
pub(crate) mod block;
pub(crate) mod builder;
pub mod cluster;
pub mod header;
pub(crate) mod ids;
pub(crate) mod live;
mod piece;
pub(crate) mod split;
#[cfg(test)]
pub(crate) mod test_writer;
pub(crate) mod tracks;
