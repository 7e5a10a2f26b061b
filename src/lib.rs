//! mkvcast: a live HTTP streaming server for Matroska/WebM.
//!
//! The data path: [`source`] reads and paces the input, [`segmenter`] cuts
//! it into a stream header and Cluster segments (with [`ebml`] and
//! [`matroska`]), [`publisher`] keeps the recent ones and queues them per
//! client, and [`server`] writes them to HTTP clients from one event loop.
#![forbid(unsafe_code)]

pub mod continuity;
pub mod ebml;
pub mod error;
pub mod logging;
pub mod matroska;
pub mod publisher;
pub mod segmenter;
pub mod server;
pub mod source;
pub mod time;
