//! Viewer slots: how many viewers stream now, in all and per address, so
//! `--max-clients` and `--max-clients-per-ip` are one check each.

use std::collections::HashMap;
use std::net::IpAddr;

/// Why a viewer slot was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-clients` viewers stream already.
    Full(usize),
    /// `--max-clients-per-ip` viewers come from this address already.
    PerIp(usize),
}

/// Viewers counted in all and per remote address.
#[derive(Debug, Default)]
pub struct ViewerSlots {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl ViewerSlots {
    /// Viewers streaming now.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Takes a slot for a viewer from `ip`, within both limits.
    pub fn take(
        &mut self,
        ip: IpAddr,
        max: usize,
        max_per_ip: Option<usize>,
    ) -> Result<(), Refusal> {
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if max_per_ip.is_some_and(|m| from_ip >= m) {
            return Err(Refusal::PerIp(from_ip));
        }
        if self.total >= max {
            return Err(Refusal::Full(self.total));
        }
        self.total += 1;
        *self.per_ip.entry(ip).or_insert(0) += 1;
        Ok(())
    }

    /// Gives back the slot of a viewer from `ip`.
    pub fn release(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_all_and_per_address() {
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let mut s = ViewerSlots::default();
        assert_eq!(s.take(a, 3, Some(2)), Ok(()));
        assert_eq!(s.take(a, 3, Some(2)), Ok(()));
        assert_eq!(s.take(a, 3, Some(2)), Err(Refusal::PerIp(2)));
        assert_eq!(s.take(b, 3, Some(2)), Ok(()));
        assert_eq!(s.take(b, 3, Some(2)), Err(Refusal::Full(3)));
        s.release(a);
        assert_eq!(s.total(), 2);
        assert_eq!(s.take(b, 3, Some(2)), Ok(()));
        s.release(a);
        assert!(!s.per_ip.contains_key(&a));
    }
}
