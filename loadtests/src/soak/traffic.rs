//! The soak's requests: ordinary ones of every shape and faulty clients, and what
//! became of each ([`Outcome`]), checked against what its kind allows ([`verdict`]).

use std::time::Duration;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sse::SseReader;

/// What a soak request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Chat,
    ChatStream,
    Completion,
    CompletionStream,
    /// `response_format` with a JSON schema.
    Structured,
    /// `max_reasoning_tokens`: a thinking budget.
    Budget,
    /// A stream read one chunk every 30 ms.
    SlowReader,
    /// Connects, sends half the headers, hangs up.
    DisconnectBeforeHeaders,
    /// Reads the first chunk of a stream and hangs up.
    DisconnectAfterFirstChunk,
    /// Reads a few chunks and hangs up.
    DisconnectMidStream,
    /// Sends a large streaming request and never reads the answer.
    NeverReads,
    /// A body that is not JSON.
    Malformed,
    /// A field of the wrong type.
    WrongType,
    /// A body over `--max-body-bytes`.
    Oversize,
    /// A prompt longer than the context window.
    TooLong,
    /// One of many requests sent at once past the admission limit.
    Burst,
    /// A stream running when the server is sent SIGTERM.
    AtShutdown,
}

impl Kind {
    /// A kind drawn with the soak's mix: about 80% ordinary requests, 20% faults.
    pub fn draw(rng: &mut StdRng) -> Self {
        const MIX: &[(Kind, u32)] = &[
            (Kind::Chat, 16),
            (Kind::ChatStream, 20),
            (Kind::Completion, 10),
            (Kind::CompletionStream, 12),
            (Kind::Structured, 8),
            (Kind::Budget, 8),
            (Kind::SlowReader, 4),
            (Kind::DisconnectBeforeHeaders, 3),
            (Kind::DisconnectAfterFirstChunk, 4),
            (Kind::DisconnectMidStream, 4),
            (Kind::NeverReads, 1),
            (Kind::Malformed, 3),
            (Kind::WrongType, 3),
            (Kind::Oversize, 2),
            (Kind::TooLong, 2),
        ];
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut x = rng.random_range(0..total);
        for &(kind, w) in MIX {
            if x < w {
                return kind;
            }
            x -= w;
        }
        Kind::Chat
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 200 and every choice finished (a stream with `[DONE]`).
    Completed,
    /// 200, then a stream that ended with an error event (its code) and `[DONE]`.
    ErrorEvent(String),
    /// An error status with its OpenAI error code.
    Refused(u16, String),
    /// The client hung up on purpose.
    ClientGone,
    /// Anything else: a transport error, a stream cut without `[DONE]`, a 5xx other
    /// than 503, an answer that is not what the API promises.
    Lost(String),
}

impl Outcome {
    /// A short label for counting.
    pub fn label(&self) -> String {
        match self {
            Self::Completed => "completed".into(),
            Self::ErrorEvent(code) => format!("error_event:{code}"),
            Self::Refused(status, code) => format!("{status}:{code}"),
            Self::ClientGone => "client_gone".into(),
            Self::Lost(_) => "lost".into(),
        }
    }
}

/// `Err(why)` when `outcome` is not one `kind` allows.
pub fn verdict(kind: Kind, outcome: &Outcome) -> Result<(), String> {
    let ok = match (kind, outcome) {
        (_, Outcome::Lost(why)) => return Err(format!("{kind:?}: {why}")),
        (Kind::Malformed | Kind::WrongType | Kind::TooLong, o) => {
            matches!(o, Outcome::Refused(400, _))
        }
        (Kind::Oversize, o) => matches!(o, Outcome::Refused(413, _)),
        (Kind::Burst, o) => matches!(
            o,
            Outcome::Completed | Outcome::Refused(429 | 503, _) | Outcome::ErrorEvent(_)
        ),
        (Kind::AtShutdown, o) => matches!(
            o,
            Outcome::Completed | Outcome::Refused(503, _) | Outcome::ErrorEvent(_)
        ),
        (
            Kind::DisconnectBeforeHeaders
            | Kind::DisconnectAfterFirstChunk
            | Kind::DisconnectMidStream
            | Kind::NeverReads,
            _,
        ) => true,
        // Ordinary requests: done, or a documented refusal / deadline.
        (_, Outcome::Completed | Outcome::Refused(429 | 503, _)) => true,
        (_, Outcome::ErrorEvent(code)) => code == "queue_timeout",
        (_, Outcome::Refused(..) | Outcome::ClientGone) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{kind:?} ended as {outcome:?}"))
    }
}

/// Where and how requests are sent.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub client: reqwest::Client,
    /// `--max-body-bytes` of the server.
    pub max_body_bytes: usize,
    /// How long a `NeverReads` client holds its socket.
    pub never_read_hold: Duration,
}

fn question(rng: &mut StdRng) -> String {
    let (a, b) = (rng.random_range(0..100), rng.random_range(0..100));
    format!("What is {a} + {b}?")
}

/// The body of an ordinary request of `kind` (chat or completions).
fn body(kind: Kind, rng: &mut StdRng) -> (&'static str, Value, usize) {
    let n = if rng.random_bool(0.3) {
        rng.random_range(2..=8)
    } else {
        1
    };
    let max_tokens = rng.random_range(8..=96);
    let q = question(rng);
    let chat = json!({"messages": [{"role": "user", "content": q}], "max_tokens": max_tokens, "n": n, "temperature": 0.8});
    let completion = json!({"prompt": format!("<｜begin▁of▁sentence｜><｜User｜>{q}<｜Assistant｜><think>\n"), "max_tokens": max_tokens, "n": n});
    let (path, mut body) = match kind {
        Kind::Completion | Kind::CompletionStream => ("/v1/completions", completion),
        _ => ("/v1/chat/completions", chat),
    };
    match kind {
        Kind::ChatStream
        | Kind::CompletionStream
        | Kind::SlowReader
        | Kind::DisconnectAfterFirstChunk
        | Kind::DisconnectMidStream
        | Kind::AtShutdown => {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        Kind::Structured => {
            let schema = json!({"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]});
            body["response_format"] =
                json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}});
        }
        Kind::Budget => body["max_reasoning_tokens"] = json!(rng.random_range(1..=16)),
        _ => {}
    }
    if kind == Kind::AtShutdown {
        body["max_tokens"] = json!(400);
        body["n"] = json!(1);
        body["ignore_eos"] = json!(true);
        return (path, body, 1);
    }
    (path, body, n)
}

/// Sends one request of `kind` (drawn detail from `seed`) and says what became of it.
pub async fn send(target: &Target, kind: Kind, seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    match kind {
        Kind::DisconnectBeforeHeaders => raw_half_headers(target).await,
        Kind::NeverReads => never_reads(target, &mut rng).await,
        Kind::Oversize => oversize(target).await,
        Kind::Malformed => {
            post_raw(
                target,
                "/v1/chat/completions",
                b"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"".to_vec(),
            )
            .await
        }
        Kind::WrongType => {
            let body =
                json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"});
            post_raw(
                target,
                "/v1/chat/completions",
                body.to_string().into_bytes(),
            )
            .await
        }
        Kind::TooLong => {
            let body = json!({"prompt": "1 + ".repeat(4000), "max_tokens": 4});
            post_raw(target, "/v1/completions", body.to_string().into_bytes()).await
        }
        _ => {
            let (path, body, n) = body(kind, &mut rng);
            let stop_after = match kind {
                Kind::DisconnectAfterFirstChunk => Some(1),
                Kind::DisconnectMidStream => Some(rng.random_range(2..8)),
                _ => None,
            };
            let pace = (kind == Kind::SlowReader).then_some(Duration::from_millis(30));
            if body["stream"] == json!(true) {
                stream(target, path, &body, n, stop_after, pace).await
            } else {
                whole(target, path, &body, n).await
            }
        }
    }
}

/// A non-streaming request: 200 with `n` finished choices, or an error object.
async fn whole(target: &Target, path: &str, body: &Value, n: usize) -> Outcome {
    let r = match transmit(target.client.post(format!("{}{path}", target.base)).json(body)).await {
        Ok(r) => r,
        Err(lost) => return lost,
    };
    let status = r.status().as_u16();
    let value = match json_body(r).await {
        Ok(v) => v,
        Err(lost) => return lost,
    };
    if status != 200 {
        return refused(status, &value);
    }
    let choices = value["choices"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if choices.len() == n && choices.iter().all(|c| c["finish_reason"].is_string()) {
        Outcome::Completed
    } else {
        Outcome::Lost(format!("200 with unfinished choices: {value}"))
    }
}

/// Sends `request`; a transport failure is the request's (lost) outcome.
async fn transmit(request: reqwest::RequestBuilder) -> Result<reqwest::Response, Outcome> {
    request.send().await.map_err(|e| Outcome::Lost(format!("transport: {e}")))
}

/// The JSON body of `r`; a response without one is a lost outcome.
async fn json_body(r: reqwest::Response) -> Result<Value, Outcome> {
    let status = r.status().as_u16();
    r.json().await.map_err(|e| Outcome::Lost(format!("{status} without a JSON body: {e}")))
}

/// The outcome of an error answer: its status and code, or lost (a 5xx other than
/// 503, or no OpenAI error object).
fn refused(status: u16, value: &Value) -> Outcome {
    let code = value["error"]["code"].as_str().unwrap_or("none").to_owned();
    if status >= 500 && status != 503 {
        return Outcome::Lost(format!("{status}: {value}"));
    }
    if !value["error"]["message"].is_string() {
        return Outcome::Lost(format!("{status} without an error object: {value}"));
    }
    Outcome::Refused(status, code)
}

/// A streaming request read to `[DONE]` (or hung up on after `stop_after` chunks).
async fn stream(
    target: &Target,
    path: &str,
    body: &Value,
    n: usize,
    stop_after: Option<usize>,
    pace: Option<Duration>,
) -> Outcome {
    let r = match transmit(target.client.post(format!("{}{path}", target.base)).json(body)).await {
        Ok(r) => r,
        Err(lost) => return lost,
    };
    let status = r.status().as_u16();
    if status != 200 {
        return match json_body(r).await {
            Ok(v) => refused(status, &v),
            Err(lost) => lost,
        };
    }
    let mut bytes = r.bytes_stream();
    let mut reader = SseReader::default();
    let (mut chunks, mut finished, mut error) = (0usize, vec![false; n], None::<String>);
    let mut last = String::new();
    while let Some(piece) = bytes.next().await {
        let piece = match piece {
            Ok(p) => p,
            Err(e) => return Outcome::Lost(format!("stream cut after {chunks} chunks: {e}")),
        };
        for data in reader.push(&piece) {
            if data == "[DONE]" {
                return match error {
                    Some(code) => Outcome::ErrorEvent(code),
                    None if finished.iter().all(|&f| f) => Outcome::Completed,
                    None => Outcome::Lost(format!(
                        "[DONE] before every choice finished ({finished:?}); last chunk {last}"
                    )),
                };
            }
            last = data.clone();
            let Ok(chunk) = serde_json::from_str::<Value>(&data) else {
                return Outcome::Lost(format!("a chunk that is not JSON: {data}"));
            };
            if chunk.get("error").is_some() {
                error = Some(chunk["error"]["code"].as_str().unwrap_or("none").to_owned());
            }
            for c in chunk["choices"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if let (Some(i), true) = (c["index"].as_u64(), c["finish_reason"].is_string()) {
                    if let Some(f) = finished.get_mut(i as usize) {
                        *f = true;
                    }
                }
            }
            chunks += 1;
            if stop_after.is_some_and(|k| chunks >= k) {
                return Outcome::ClientGone;
            }
        }
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
    }
    Outcome::Lost(format!("stream ended without [DONE] after {chunks} chunks"))
}

fn addr(target: &Target) -> std::net::SocketAddr {
    target
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("a loopback base URL")
}

/// Sends `body` by hand and reads the status line and error object.
async fn post_raw(target: &Target, path: &str, body: Vec<u8>) -> Outcome {
    let request = target.client.post(format!("{}{path}", target.base)).header("content-type", "application/json").body(body);
    let r = match transmit(request).await {
        Ok(r) => r,
        Err(lost) => return lost,
    };
    let status = r.status().as_u16();
    match json_body(r).await {
        Ok(v) if status != 200 => refused(status, &v),
        Ok(v) => Outcome::Lost(format!("bad input accepted: {v}")),
        Err(lost) => lost,
    }
}

async fn raw_half_headers(target: &Target) -> Outcome {
    if let Ok(mut s) = tokio::net::TcpStream::connect(addr(target)).await {
        let _ = s
            .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: ponder\r\nContent-Le")
            .await;
    }
    Outcome::ClientGone
}

/// Headers announcing a body over the limit: the server answers 413 without reading it.
async fn oversize(target: &Target) -> Outcome {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr(target)).await else {
        return Outcome::Lost("cannot connect".into());
    };
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: ponder\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target.max_body_bytes * 2
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return Outcome::Lost("cannot send headers".into());
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let Some(status) = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return Outcome::Lost(format!("no status line: {text:?}"));
    };
    let code = if text.contains("request_too_large") {
        "request_too_large"
    } else {
        "none"
    };
    Outcome::Refused(status, code.into())
}

/// A large stream (8 choices with 20 top logprobs a token: several MB, more than the
/// kernel buffers a loopback socket) on a socket never read, then closed.
async fn never_reads(target: &Target, rng: &mut StdRng) -> Outcome {
    let body =
        json!({"messages": [{"role": "user", "content": question(rng)}], "max_tokens": 480, "n": 8,
        "logprobs": true, "top_logprobs": 20, "ignore_eos": true, "stream": true})
        .to_string();
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
        return Outcome::Lost("no socket".into());
    };
    let _ = socket.set_recv_buffer_size(4096);
    if let Ok(mut s) = socket.connect(addr(target)).await {
        let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: ponder\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
        tokio::time::sleep(target.never_read_hold).await;
    }
    Outcome::ClientGone
}
