//! Evaluation problems from a JSONL file: one `{"prompt": str, "answer": int}` per line.

use std::path::Path;

use anyhow::{anyhow, Context};
use serde_json::Value;

use super::answer::parse_integer;

/// One problem: the user message sent as is, and the integer reference answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub prompt: String,
    pub answer: i64,
}

/// Reads the problems of `path`, keeping the first `limit` when given (every line is
/// still validated, so a malformed file fails whatever the limit).
///
/// Errors: the file cannot be read, or a line is malformed (the message names the
/// file and the 1-based line).
pub fn read(path: &Path, limit: Option<usize>) -> anyhow::Result<Vec<Problem>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut problems = parse(&text).with_context(|| path.display().to_string())?;
    if let Some(limit) = limit {
        problems.truncate(limit);
    }
    Ok(problems)
}

/// Parses JSONL text. Blank lines are skipped. `answer` is a JSON integer (or an
/// integral float such as `32.0`) or a string holding one integer (`"1,234"`); extra
/// fields are ignored. Errors name the 1-based line: `line 3: missing "prompt"`.
pub fn parse(text: &str) -> anyhow::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let problem = parse_line(line).with_context(|| format!("line {}", index + 1))?;
        problems.push(problem);
    }
    Ok(problems)
}

fn parse_line(line: &str) -> anyhow::Result<Problem> {
    let value: Value = serde_json::from_str(line).context("not valid JSON")?;
    let prompt = match &value["prompt"] {
        Value::String(s) => s.clone(),
        Value::Null => return Err(anyhow!("missing \"prompt\"")),
        other => return Err(anyhow!("\"prompt\" must be a string, got {other}")),
    };
    let answer = match &value["answer"] {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
        }
        Value::String(s) => parse_integer(s),
        Value::Null => return Err(anyhow!("missing \"answer\"")),
        _ => None,
    };
    let answer = answer.ok_or_else(|| anyhow!("\"answer\" must be an integer, got {}", value["answer"]))?;
    Ok(Problem { prompt, answer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(prompt: &str, answer: i64) -> Problem {
        Problem { prompt: prompt.into(), answer }
    }

    #[test]
    fn lines_are_read_and_blank_lines_skipped() {
        let text = "{\"prompt\": \"What is 9 × 66?\", \"answer\": 594}\n\n{\"prompt\": \"p\", \"answer\": \"1,234\", \"x\": 1}\n{\"prompt\": \"q\", \"answer\": -3.0}\n";
        assert_eq!(parse(text).unwrap(), vec![problem("What is 9 × 66?", 594), problem("p", 1234), problem("q", -3)]);
    }

    #[test]
    fn invalid_json_names_the_line() {
        let err = parse("{\"prompt\": \"a\", \"answer\": 1}\n{oops\n").unwrap_err();
        assert!(format!("{err:#}").starts_with("line 2: not valid JSON"), "{err:#}");
    }

    #[test]
    fn missing_fields_name_the_line_and_the_field() {
        let err = parse("\n{\"answer\": 1}").unwrap_err();
        assert_eq!(format!("{err:#}"), "line 2: missing \"prompt\"");
        let err = parse("{\"prompt\": \"a\"}").unwrap_err();
        assert_eq!(format!("{err:#}"), "line 1: missing \"answer\"");
    }

    #[test]
    fn non_integer_answers_are_rejected_with_the_line() {
        let err = parse("{\"prompt\": \"a\", \"answer\": 1}\n{\"prompt\": \"b\", \"answer\": 2.5}").unwrap_err();
        assert_eq!(format!("{err:#}"), "line 2: \"answer\" must be an integer, got 2.5");
        let err = parse("{\"prompt\": \"a\", \"answer\": \"seven\"}").unwrap_err();
        assert_eq!(format!("{err:#}"), "line 1: \"answer\" must be an integer, got \"seven\"");
    }

    #[test]
    fn the_limit_keeps_the_first_problems_and_a_read_error_names_the_file() {
        let dir = std::env::temp_dir().join(format!("ponder-bench-dataset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.jsonl");
        std::fs::write(&path, "{\"prompt\": \"a\", \"answer\": 1}\n{\"prompt\": \"b\", \"answer\": 2}\n{bad\n")
            .unwrap();
        let err = read(&path, Some(2)).unwrap_err();
        assert!(format!("{err:#}").contains("d.jsonl: line 3"), "{err:#}");
        std::fs::write(&path, "{\"prompt\": \"a\", \"answer\": 1}\n{\"prompt\": \"b\", \"answer\": 2}\n").unwrap();
        assert_eq!(read(&path, Some(1)).unwrap(), vec![problem("a", 1)]);
        assert!(read(&dir.join("absent.jsonl"), None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
