//! One element header at a time: what each state expects next, and the
//! checks on the few elements the walk reads (EBML header, Info, Tracks,
//! Cluster Timestamps, block headers).

use mkvcast::internals::ebml::{self, ElementHeader};
use mkvcast::internals::{cluster, header, ids};

use super::{State, StreamWalk, WalkError, MAX_INTERVAL_MS, MAX_SMALL};

/// Bytes used by a step, or `None` until more bytes are there.
type Step = Result<Option<usize>, WalkError>;

impl StreamWalk {
    /// Reads one element header (plus, for a few elements, a little of
    /// their data) at the current position. `Ok(None)` means more bytes are
    /// needed, and then nothing has changed.
    pub(super) fn step(&mut self, buf: &[u8]) -> Step {
        let h = match ebml::read_element_header(buf) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => return Err(WalkError::BadElementHeader(e.to_string())),
        };
        match self.state {
            State::EbmlHeader => self.ebml_header(&h),
            State::Segment => self.segment(&h),
            State::Level1 => self.level1(&h),
            State::ClusterChild => self.cluster_child(&h, buf),
            State::GroupChild => self.group_child(&h, buf),
            // Bulk states never reach here.
            _ => Err(WalkError::Internal("step in a bulk state")),
        }
    }

    fn ebml_header(&mut self, h: &ElementHeader) -> Step {
        if h.id != ids::EBML {
            return Err(WalkError::NotEbml(h.id));
        }
        let size = self.child_size(h, None, "EBML header")?;
        self.collect(ids::EBML, size, "EBML header")?;
        Ok(Some(h.header_len))
    }

    fn segment(&mut self, h: &ElementHeader) -> Step {
        if h.id != ids::SEGMENT {
            return Err(WalkError::NotSegment(h.id));
        }
        self.segment_end = h.size.map(|s| self.pos + h.header_len as u64 + s);
        self.state = State::Level1;
        Ok(Some(h.header_len))
    }

    fn level1(&mut self, h: &ElementHeader) -> Step {
        if h.id == ids::CLUSTER && h.size.is_none() {
            if self.tracks.is_empty() {
                return Err(WalkError::ClusterBeforeTracks);
            }
            self.cluster_end = None;
            self.cluster_unknown = true;
            self.cluster_timestamp = None;
            self.state = State::ClusterChild;
            return Ok(Some(h.header_len));
        }
        let size = self.child_size(h, self.segment_end, "Segment")?;
        match h.id {
            ids::CLUSTER => {
                if self.tracks.is_empty() {
                    return Err(WalkError::ClusterBeforeTracks);
                }
                self.cluster_end = Some(self.pos + h.header_len as u64 + size);
                self.cluster_timestamp = None;
                self.state = State::ClusterChild;
            }
            ids::INFO => self.collect(h.id, size, "Info")?,
            ids::TRACKS => self.collect(h.id, size, "Tracks")?,
            ids::EBML | ids::SEGMENT => return Err(WalkError::Nested(h.id)),
            // SeekHead, Cues, Tags, Void, ...: not needed to play.
            _ => self.state = State::Skip(size),
        }
        Ok(Some(h.header_len))
    }

    fn cluster_child(&mut self, h: &ElementHeader, buf: &[u8]) -> Step {
        if self.cluster_unknown && (ids::ends_cluster(h.id) || h.id == ids::EBML) {
            self.end_cluster()?;
            return self.level1(h);
        }
        let size = self.child_size(h, self.cluster_end, "Cluster")?;
        let hl = h.header_len;
        match h.id {
            ids::TIMESTAMP => {
                if size > 8 {
                    return Err(WalkError::LongTimestamp);
                }
                let Some(value) = buf.get(hl..hl + size as usize) else {
                    return Ok(None);
                };
                let ts =
                    ebml::read_uint(value).map_err(|e| WalkError::BadTimestamp(e.to_string()))?;
                self.cluster_timestamp(ts)?;
                return Ok(Some(hl + value.len()));
            }
            ids::SIMPLE_BLOCK => {
                let Some((track, flags, n)) = peek_block(&buf[hl..], size)? else {
                    return Ok(None);
                };
                self.check_block(track, flags & 0x80 != 0)?;
                self.state = State::Skip(size - n as u64);
                return Ok(Some(hl + n));
            }
            ids::BLOCK_GROUP => {
                self.group_end = Some(self.pos + hl as u64 + size);
                self.group_track = None;
                self.group_has_reference = false;
                self.state = State::GroupChild;
            }
            id if ids::is_cluster_child(id) => self.state = State::Skip(size),
            id => return Err(WalkError::UnexpectedInCluster(id)),
        }
        Ok(Some(hl))
    }

    fn group_child(&mut self, h: &ElementHeader, buf: &[u8]) -> Step {
        let size = self.child_size(h, self.group_end, "BlockGroup")?;
        let hl = h.header_len;
        match h.id {
            ids::BLOCK => {
                let Some((track, _, n)) = peek_block(&buf[hl..], size)? else {
                    return Ok(None);
                };
                self.group_track = Some(track);
                self.state = State::Skip(size - n as u64);
                return Ok(Some(hl + n));
            }
            ids::REFERENCE_BLOCK => {
                self.group_has_reference = true;
                self.state = State::Skip(size);
            }
            _ => self.state = State::Skip(size),
        }
        Ok(Some(hl))
    }

    /// The size of a child element, which must be known and end inside
    /// its parent (`parent_end`, when the parent's size is known).
    fn child_size(
        &self,
        h: &ElementHeader,
        parent_end: Option<u64>,
        parent: &'static str,
    ) -> Result<u64, WalkError> {
        let size = h.size.ok_or(WalkError::UnknownSize { id: h.id, parent })?;
        let end = self
            .pos
            .saturating_add(h.header_len as u64)
            .saturating_add(size);
        match parent_end {
            Some(p) if end > p => Err(WalkError::PastParent { id: h.id, parent }),
            _ => Ok(size),
        }
    }

    fn collect(&mut self, id: u32, size: u64, what: &'static str) -> Result<(), WalkError> {
        if size > MAX_SMALL {
            return Err(WalkError::TooLarge {
                what,
                size,
                max: MAX_SMALL,
            });
        }
        self.small.clear();
        self.state = State::Collect(id, size);
        Ok(())
    }

    /// Records a Cluster Timestamp: they must never go backwards, and their
    /// steps estimate the cluster interval for stall detection.
    fn cluster_timestamp(&mut self, ts: u64) -> Result<(), WalkError> {
        if let Some(last) = self.last_cluster_timestamp {
            if ts < last {
                return Err(WalkError::Backwards);
            }
            let ms = u128::from(ts - last) * u128::from(self.timestamp_scale) / 1_000_000;
            let ms = u64::try_from(ms).unwrap_or(u64::MAX);
            if ms <= MAX_INTERVAL_MS {
                self.max_interval_ms = self.max_interval_ms.max(ms);
            }
        }
        self.cluster_timestamp = Some(ts);
        self.last_cluster_timestamp = Some(ts);
        Ok(())
    }

    /// Every block must belong to a declared track, and the first video
    /// block a viewer sees must be a keyframe, or its player shows garbage.
    pub(super) fn check_block(&mut self, track: u64, keyframe: bool) -> Result<(), WalkError> {
        if !self.tracks.contains(&track) {
            return Err(WalkError::UndeclaredTrack(track));
        }
        if self.clusters == 0 && !self.keyframe_checked && Some(track) == self.video_track {
            self.keyframe_checked = true;
            if !keyframe {
                return Err(WalkError::NoKeyframe);
            }
        }
        Ok(())
    }

    /// Parses a fully collected EBML header, Info or Tracks element.
    pub(super) fn finish_small(&mut self, id: u32) -> Result<(), WalkError> {
        let data = std::mem::take(&mut self.small);
        match id {
            ids::EBML => {
                header::parse_doc_type(&data).map_err(|e| WalkError::Header(e.to_string()))?;
                self.state = State::Segment;
                return Ok(());
            }
            ids::INFO => self.finish_info(&data)?,
            _ => self.finish_tracks(&data)?,
        }
        self.state = State::Level1;
        Ok(())
    }

    /// Info: only the TimestampScale matters (for the interval estimate).
    fn finish_info(&mut self, data: &[u8]) -> Result<(), WalkError> {
        for child in ebml::children(data) {
            let child = child.map_err(|e| WalkError::BadInfo(e.to_string()))?;
            if child.header.id == ids::TIMESTAMP_SCALE {
                let scale =
                    ebml::read_uint(child.data).map_err(|e| WalkError::BadScale(e.to_string()))?;
                if scale != 0 {
                    self.timestamp_scale = scale;
                }
            }
        }
        Ok(())
    }

    /// Tracks: the declared track numbers, and which one is video.
    fn finish_tracks(&mut self, data: &[u8]) -> Result<(), WalkError> {
        let tracks = header::parse_tracks(data).map_err(|e| WalkError::Header(e.to_string()))?;
        if tracks.is_empty() {
            return Err(WalkError::NoTrackEntry);
        }
        self.video_track = tracks
            .iter()
            .find(|t| t.track_type == mkvcast::matroska::header::TrackType::Video)
            .map(|t| t.number);
        self.tracks = tracks.iter().map(|t| t.number).collect();
        Ok(())
    }
}

/// Reads a (Simple)Block's header from the start of its data: `(track,
/// flags, header length)`, or `None` until enough bytes are there.
fn peek_block(data: &[u8], size: u64) -> Result<Option<(u64, u8, usize)>, WalkError> {
    let Some(&first) = data.first() else {
        return Ok(None);
    };
    let n = ebml::vint_len(first).map_err(|e| WalkError::BadBlockTrack(e.to_string()))? + 3;
    if size < n as u64 {
        return Err(WalkError::ShortBlock);
    }
    let Some(head) = data.get(..n) else {
        return Ok(None);
    };
    let h = cluster::read_block_header(head).ok_or(WalkError::UnreadableBlock)?;
    Ok(Some((h.track, h.flags, n)))
}
