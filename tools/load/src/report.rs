//! What the modes' summaries share: one-line JSON objects in a fixed
//! format (the benchmarks parse them with jq and keep them in results),
//! join-time percentiles and failure reasons counted by text.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

/// Builds `{"key":value,...}` with no spaces, keys in the order added.
pub struct Json(String);

impl Json {
    pub fn new() -> Self {
        Json(String::from("{"))
    }

    /// A value written as it displays: integers, booleans, or JSON that is
    /// already encoded.
    pub fn raw(mut self, key: &str, value: impl Display) -> Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&format!("\"{key}\":{value}"));
        self
    }

    /// A number with `decimals` digits after the point.
    pub fn fixed(self, key: &str, value: f64, decimals: usize) -> Self {
        self.raw(key, format!("{value:.decimals$}"))
    }

    pub fn string(self, key: &str, value: &str) -> Self {
        self.raw(key, json_string(value))
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// A JSON string literal (the only escaping the summaries need).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Percentiles of durations, in milliseconds.
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut v: Vec<Duration>) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        // Nearest rank: the smallest value with at least p% at or below it.
        let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Some(Percentiles {
            p50: ms(rank(50.0)),
            p99: ms(rank(99.0)),
            max: ms(*v.last()?),
        })
    }

    /// `p50 1.0, p99 2.0, max 3.0 ms`, or `none`.
    pub fn text(p: &Option<Percentiles>) -> String {
        match p {
            Some(p) => format!("p50 {:.1}, p99 {:.1}, max {:.1} ms", p.p50, p.p99, p.max),
            None => "none".to_string(),
        }
    }

    /// `{"p50":1.000,"p99":2.000,"max":3.000}`, or `null`.
    pub fn json(p: &Option<Percentiles>) -> String {
        match p {
            Some(p) => Json::new()
                .fixed("p50", p.p50, 3)
                .fixed("p99", p.p99, 3)
                .fixed("max", p.max, 3)
                .finish(),
            None => "null".to_string(),
        }
    }
}

/// Why viewers failed, counted by message.
#[derive(Default)]
pub struct Reasons(BTreeMap<String, usize>);

impl Reasons {
    pub fn add(&mut self, reason: String) {
        *self.0.entry(reason).or_default() += 1;
    }

    /// The five most frequent reasons, most frequent first.
    fn top(&self) -> Vec<(&String, usize)> {
        let mut v: Vec<(&String, usize)> = self.0.iter().map(|(r, &n)| (r, n)).collect();
        v.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        v.truncate(5);
        v
    }

    /// One `  N x reason` line each (the top five).
    pub fn text(&self) -> String {
        self.top()
            .iter()
            .map(|(r, n)| format!("  {n} x {r}\n"))
            .collect()
    }

    /// `{"reason":N,...}` (the top five).
    pub fn json(&self) -> String {
        let items: Vec<String> = self
            .top()
            .iter()
            .map(|(r, n)| format!("{}:{n}", json_string(r)))
            .collect();
        format!("{{{}}}", items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_format_is_fixed() {
        let j = Json::new()
            .string("url", "a\"b\\c\u{1}")
            .raw("n", 3)
            .fixed("f", 1.23456, 3)
            .raw("ok", true)
            .finish();
        assert_eq!(j, r#"{"url":"a\"b\\c\u0001","n":3,"f":1.235,"ok":true}"#);
        let mut r = Reasons::default();
        for why in ["b", "a", "b"] {
            r.add(why.to_string());
        }
        assert_eq!(r.json(), r#"{"b":2,"a":1}"#);
        assert_eq!(r.text(), "  2 x b\n  1 x a\n");
        let p = Percentiles::of((1..=100).map(Duration::from_millis).collect());
        assert_eq!(
            Percentiles::json(&p),
            r#"{"p50":50.000,"p99":99.000,"max":100.000}"#
        );
        assert_eq!(Percentiles::json(&None), "null");
    }
}
