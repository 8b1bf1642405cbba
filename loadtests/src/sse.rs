//! Minimal server-sent-events reader for OpenAI streaming responses.

/// Splits a byte stream into SSE `data:` payloads. Feed chunks as they arrive; each
/// call returns the complete payloads (without the `data: ` prefix) seen so far.
#[derive(Default)]
pub struct SseReader {
    buf: Vec<u8>,
}

impl SseReader {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = find_event_end(&self.buf) {
            let event: Vec<u8> = self.buf.drain(..end.0 + end.1).collect();
            let text = String::from_utf8_lossy(&event[..end.0]);
            for line in text.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    out.push(data.trim_start().to_string());
                }
            }
        }
        out
    }
}

/// Position of the first blank line ("\n\n" or "\r\n\r\n"): (event length, separator length).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let mut r = SseReader::default();
        assert!(r.push(b"data: {\"a\"").is_empty());
        assert_eq!(r.push(b":1}\n\ndata: [DONE]\n\n"), vec!["{\"a\":1}", "[DONE]"]);
    }

    #[test]
    fn crlf_separated_events_are_read() {
        let mut r = SseReader::default();
        assert_eq!(r.push(b"data: x\r\n\r\n"), vec!["x"]);
    }
}
