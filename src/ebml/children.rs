//! Walking the children of a master element held whole in memory (a
//! Cluster, Info, Tracks): every child must lie inside its parent.

use std::fmt;

use super::{read_element_header, EbmlError, ElementHeader};

/// One child of a fully buffered master element.
#[derive(Debug, Clone, Copy)]
pub struct Child<'a> {
    /// The child's ID and size.
    pub header: ElementHeader,
    /// Offset of the child's first byte within the parent's data.
    pub offset: usize,
    /// The child's data (after its header).
    pub data: &'a [u8],
}

impl Child<'_> {
    /// Offset just past the child within the parent's data.
    pub fn end(&self) -> usize {
        self.offset + self.header.header_len + self.data.len()
    }
}

/// Iterates the children of a master element whose data is complete in
/// memory. Yields an error (and then stops) at a malformed child, an
/// unknown-size child, or one that runs past the parent's end.
pub fn children(data: &[u8]) -> Children<'_> {
    Children {
        data,
        pos: 0,
        failed: false,
    }
}

/// Iterator returned by [`children`].
pub struct Children<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Why a child of a buffered master element could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildError {
    /// The child's ID or size is not valid EBML.
    Ebml(EbmlError),
    /// The child's header or data runs past the end of its parent.
    Overrun,
    /// A child of unknown size inside a buffered parent.
    UnknownSize,
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Ebml(e) => e.fmt(f),
            ChildError::Overrun => write!(f, "child element runs past its parent"),
            ChildError::UnknownSize => write!(f, "child element of unknown size"),
        }
    }
}

impl std::error::Error for ChildError {}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Child<'a>, ChildError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let result = match read_element_header(rest) {
            Err(e) => Err(ChildError::Ebml(e)),
            Ok(None) => Err(ChildError::Overrun),
            Ok(Some(header)) => match header.total_len() {
                None if header.size.is_none() => Err(ChildError::UnknownSize),
                None => Err(ChildError::Overrun),
                Some(total) => match usize::try_from(total)
                    .ok()
                    .and_then(|t| rest.get(header.header_len..t))
                {
                    None => Err(ChildError::Overrun),
                    Some(data) => Ok(Child {
                        header,
                        offset: self.pos,
                        data,
                    }),
                },
            },
        };
        match &result {
            Ok(child) => self.pos = child.end(),
            Err(_) => self.failed = true,
        }
        Some(result)
    }
}
