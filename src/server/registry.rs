//! The mounts of a server, keyed by path, as mini-redis keeps its
//! channels by name. Connections name their mount by its slab key; a
//! removed mount detaches its connections first, so a key reused by a
//! later mount never reaches a stranger's viewers.

use std::collections::HashMap;

use slab::Slab;

use super::mount::Mount;

/// Every mount, and how request paths find them.
pub(super) struct Registry {
    mounts: Slab<Mount>,
    by_path: HashMap<String, usize>,
    /// The one-input form: its one mount serves every stream path.
    any_path: bool,
    /// The mount a media request to `/` gets when none is at `/`.
    default_mount: Option<String>,
}

impl Registry {
    /// The one-input form: `mount` at every path.
    pub(super) fn single(mount: Mount) -> Self {
        let mut r = Registry::with_default(None);
        r.insert(mount);
        r.any_path = true;
        r
    }

    /// Mounts at their own paths; `default_mount` answers `/`.
    pub(super) fn with_default(default_mount: Option<String>) -> Self {
        Registry {
            mounts: Slab::new(),
            by_path: HashMap::new(),
            any_path: false,
            default_mount,
        }
    }

    /// A new `default_mount` (a reload).
    pub(super) fn set_default(&mut self, default_mount: Option<String>) {
        self.default_mount = default_mount;
    }

    /// The one-input form, where every path is the stream.
    pub(super) fn is_single(&self) -> bool {
        self.any_path
    }

    /// Adds a mount (its path must be free); returns its key.
    pub(super) fn insert(&mut self, mount: Mount) -> usize {
        let path = mount.path.clone();
        let key = self.mounts.insert(mount);
        self.by_path.insert(path, key);
        key
    }

    /// Takes a mount out; its connections must have been detached.
    pub(super) fn remove(&mut self, key: usize) -> Option<Mount> {
        let m = self.mounts.try_remove(key)?;
        self.by_path.remove(&m.path);
        Some(m)
    }

    /// The mount a stream request for `path` gets.
    pub(super) fn find(&self, path: &str) -> Option<usize> {
        if self.any_path {
            return self.mounts.iter().next().map(|(k, _)| k);
        }
        if let Some(&k) = self.by_path.get(path) {
            return Some(k);
        }
        match (path, &self.default_mount) {
            ("/", Some(d)) => self.by_path.get(d.as_str()).copied(),
            _ => None,
        }
    }

    /// The mount at exactly `path`.
    pub(super) fn at(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    pub(super) fn get(&self, key: usize) -> Option<&Mount> {
        self.mounts.get(key)
    }

    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut Mount> {
        self.mounts.get_mut(key)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &Mount)> {
        self.mounts.iter()
    }

    pub(super) fn keys(&self) -> Vec<usize> {
        self.mounts.iter().map(|(k, _)| k).collect()
    }

    pub(super) fn len(&self) -> usize {
        self.mounts.len()
    }

    /// Mounts sorted by path, as the index page and the status page list
    /// them.
    pub(super) fn sorted(&self) -> Vec<(usize, &Mount)> {
        let mut v: Vec<(usize, &Mount)> = self.mounts.iter().collect();
        v.sort_by(|a, b| a.1.path.cmp(&b.1.path));
        v
    }
}
