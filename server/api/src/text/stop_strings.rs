//! Stop strings (`stop` request field) on the streamed output text.
//!
//! Applied to the whole output text, before the reasoning split, as vLLM does: a stop
//! string inside the chain of thought ends the sequence too. The matched stop string and
//! everything after it are never emitted; of several stop strings, the one completed
//! first ends the text. Because a stop string can straddle chunk
//! boundaries, the longest suffix of the text seen so far that is a proper prefix of
//! some stop string is held back:
//!
//! ```text
//! stop = ["###"]     pushed: "answer: 42 #"   emitted: "answer: 42 "   held: "#"
//!                    pushed: "## more"        emitted: ""              stopped: true
//! ```
//!
//! Cost per push: O((held + delta) · Σ|stop|), with held < the longest stop string.

/// Result of one [`StopStrings::push`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopDelta {
    /// Text that is now safe to emit (possibly empty).
    pub text: String,
    /// A stop string matched: `text` ends right before it and the sequence must end.
    pub stopped: bool,
}

/// Per-sequence stop-string matcher.
#[derive(Debug, Clone)]
pub struct StopStrings {
    /// The stop strings; empty strings are left out (they would match before any text).
    stops: Vec<String>,
    /// Text received but not emitted: a proper prefix of some stop string.
    held: String,
    /// The stop string that matched (index into `stops`); every later push returns nothing.
    matched: Option<usize>,
}

impl StopStrings {
    /// A matcher for `stops` (empty strings are ignored; none at all → pass-through).
    pub fn new<S: AsRef<str>>(stops: &[S]) -> Self {
        let stops = stops
            .iter()
            .map(|s| s.as_ref().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        Self {
            stops,
            held: String::new(),
            matched: None,
        }
    }

    /// Appends a text delta; returns what may be emitted now and whether a stop string
    /// matched. After a match every push returns an empty, stopped delta.
    pub fn push(&mut self, delta: &str) -> StopDelta {
        if self.matched.is_some() {
            return StopDelta {
                text: String::new(),
                stopped: true,
            };
        }
        if self.stops.is_empty() {
            return StopDelta {
                text: delta.to_owned(),
                stopped: false,
            };
        }
        self.held.push_str(delta);
        if let Some((at, which)) = self.earliest_match() {
            self.held.truncate(at);
            self.matched = Some(which);
            return StopDelta {
                text: std::mem::take(&mut self.held),
                stopped: true,
            };
        }
        let keep = self.partial_match_len();
        let rest = self.held.split_off(self.held.len() - keep);
        StopDelta {
            text: std::mem::replace(&mut self.held, rest),
            stopped: false,
        }
    }

    /// Ends the stream: releases the held text (it did not become a stop string).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Whether a stop string has matched.
    pub fn stopped(&self) -> bool {
        self.matched.is_some()
    }

    /// The stop string that matched (vLLM's `stop_reason`), if one did.
    pub fn matched(&self) -> Option<&str> {
        self.matched.map(|i| self.stops[i].as_str())
    }

    /// Byte offset in `held` of the stop string that completes first in the stream
    /// (smallest end offset; of those ending together, the longest). Choosing by end,
    /// not start, makes the result independent of chunking: generation stops as soon
    /// as any stop string is complete.
    /// Returns that offset and the string's index in `stops`.
    fn earliest_match(&self) -> Option<(usize, usize)> {
        self.stops
            .iter()
            .enumerate()
            .filter_map(|(i, stop)| self.held.find(stop.as_str()).map(|at| (at + stop.len(), at, i)))
            .min_by_key(|&(end, at, _)| (end, at))
            .map(|(_, at, i)| (at, i))
    }

    /// Length in bytes of the longest suffix of `held` that is a proper prefix of a
    /// stop string (0 when none).
    fn partial_match_len(&self) -> usize {
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let max_keep = longest.saturating_sub(1).min(self.held.len());
        (1..=max_keep)
            .rev()
            .filter(|&keep| self.held.is_char_boundary(self.held.len() - keep))
            .find(|&keep| {
                let suffix = &self.held[self.held.len() - keep..];
                self.stops.iter().any(|stop| stop.starts_with(suffix))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_that_completes_first_is_reported_as_matched() {
        let mut stops = StopStrings::new(&["lo w", "ell"]);
        assert_eq!(stops.matched(), None);
        let out = stops.push("he");
        assert_eq!((out.text.as_str(), out.stopped), ("h", false), "`e` may start `ell`");
        let out = stops.push("llo world");
        assert_eq!((out.text.as_str(), out.stopped), ("", true), "`h` went out already");
        assert_eq!(stops.matched(), Some("ell"), "`ell` ends at byte 4, `lo w` at byte 7");
    }
}
