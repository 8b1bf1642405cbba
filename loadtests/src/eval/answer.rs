//! Final-number extraction from a completion's answer text (`message.content`).
//!
//! The rule: the answer is the **last number** written in the content. A number is
//! a run of ASCII digits, optionally
//! - grouped by thousands separators (`1,234,567`: a first group of 1–3 digits, then
//!   `,` + exactly 3 digits, each group ending at a non-digit),
//! - signed by a `-` (or U+2212 `−`) directly before it that does not follow a letter
//!   or digit (so `3-4` reads as 3 and 4, but `= -17` reads as -17),
//! - followed by a fraction `.digits`; `12.00` is the integer 12, while a number with a
//!   non-zero fraction (`3.5`) is not an integer answer.
//!
//! The caller passes the content only: the reasoning is never consulted, so a number
//! the model merely thought about does not count as its answer.

/// The last number in `content` as an integer; `None` when there is no number, the
/// last number has a non-zero fraction, or it does not fit in an `i64`.
pub fn extract_final_number(content: &str) -> Option<i64> {
    let mut scanner = NumberScanner { text: content.as_bytes(), pos: 0 };
    let mut last = None;
    while let Some(value) = scanner.next_number() {
        last = Some(value);
    }
    last.flatten()
}

/// Parses a reference answer written as a string ("1,234", "-17", " 42 "): the whole
/// trimmed string must be exactly one integer by the rule above.
pub fn parse_integer(text: &str) -> Option<i64> {
    let text = text.trim();
    let mut scanner = NumberScanner { text: text.as_bytes(), pos: 0 };
    let value = scanner.next_number()??;
    let digits_start = usize::from(text.starts_with('-'));
    let whole = scanner.pos == text.len() && text[digits_start..].starts_with(|c: char| c.is_ascii_digit());
    whole.then_some(value)
}

/// Walks the numbers of a text left to right.
struct NumberScanner<'a> {
    text: &'a [u8],
    /// Byte offset where the next search starts.
    pos: usize,
}

impl NumberScanner<'_> {
    /// The next number: `Some(Some(v))` for an integer, `Some(None)` for a number that
    /// is not an `i64` integer, `None` when no number is left.
    fn next_number(&mut self) -> Option<Option<i64>> {
        let b = self.text;
        let start = (self.pos..b.len()).find(|&i| b[i].is_ascii_digit())?;
        let negative = self.has_minus_before(start);
        let mut end = self.digit_run_end(start);
        let mut digits: String = ascii(&b[start..end]).to_owned();
        if end - start <= 3 {
            while let Some(group_end) = self.thousands_group_at(end) {
                digits.push_str(ascii(&b[end + 1..group_end]));
                end = group_end;
            }
        }
        let mut integral = true;
        if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
            let fraction_end = self.digit_run_end(end + 1);
            integral = b[end + 1..fraction_end].iter().all(|&d| d == b'0');
            end = fraction_end;
        }
        self.pos = end;
        let value = digits.parse::<i64>().ok().filter(|_| integral);
        Some(value.map(|v| if negative { -v } else { v }))
    }

    /// End of the run of digits starting at `i`.
    fn digit_run_end(&self, i: usize) -> usize {
        (i..self.text.len()).find(|&j| !self.text[j].is_ascii_digit()).unwrap_or(self.text.len())
    }

    /// If `,ddd` (exactly three digits, then a non-digit or the end) starts at `i`,
    /// the end of that group.
    fn thousands_group_at(&self, i: usize) -> Option<usize> {
        let b = self.text;
        let group = b.get(i + 1..i + 4)?;
        let closed = b.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
        (b[i] == b',' && group.iter().all(u8::is_ascii_digit) && closed).then_some(i + 4)
    }

    /// Whether a sign (`-` or U+2212) stands right before `start` and is not itself
    /// preceded by a letter or digit.
    fn has_minus_before(&self, start: usize) -> bool {
        let b = &self.text[..start];
        let sign_len = if b.ends_with(b"-") {
            1
        } else if b.ends_with("\u{2212}".as_bytes()) {
            3
        } else {
            return false;
        };
        b.len() == sign_len || !b[b.len() - sign_len - 1].is_ascii_alphanumeric()
    }
}

/// `bytes` are ASCII digits, hence valid UTF-8.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators_are_read_and_the_trailing_period_ignored() {
        assert_eq!(extract_final_number("The answer is 1,234."), Some(1234));
        assert_eq!(extract_final_number("so 12,345,678 in total"), Some(12_345_678));
    }

    #[test]
    fn a_leading_minus_makes_the_number_negative() {
        assert_eq!(extract_final_number("-17"), Some(-17));
        assert_eq!(extract_final_number("x = -17"), Some(-17));
        assert_eq!(extract_final_number("x = \u{2212}5"), Some(-5));
    }

    #[test]
    fn a_hyphen_between_numbers_is_not_a_sign() {
        assert_eq!(extract_final_number("pages 3-4"), Some(4));
        assert_eq!(extract_final_number("item-7"), Some(7));
    }

    #[test]
    fn text_without_a_number_has_no_answer() {
        assert_eq!(extract_final_number("no number"), None);
        assert_eq!(extract_final_number(""), None);
    }

    #[test]
    fn the_last_number_wins() {
        assert_eq!(extract_final_number("3 + 4 = 7, so the answer is 7"), Some(7));
        assert_eq!(extract_final_number("It is 40, not 41"), Some(41));
    }

    #[test]
    fn commas_that_are_not_thousands_groups_separate_numbers() {
        assert_eq!(extract_final_number("1, 2, 3"), Some(3));
        assert_eq!(extract_final_number("1,23"), Some(23));
        assert_eq!(extract_final_number("1,2345"), Some(2345));
        assert_eq!(extract_final_number("1234,567"), Some(567));
    }

    #[test]
    fn fractions_are_integers_only_when_zero() {
        assert_eq!(extract_final_number("12.00"), Some(12));
        assert_eq!(extract_final_number("about 3.5"), None);
        assert_eq!(extract_final_number("3.5 rounds to 4"), Some(4));
        assert_eq!(extract_final_number("1,234.0"), Some(1234));
    }

    #[test]
    fn numbers_too_large_for_i64_are_not_answers() {
        assert_eq!(extract_final_number("99999999999999999999"), None);
    }

    #[test]
    fn the_reasoning_is_never_consulted() {
        // The caller hands over the content only: a completion whose number appears in
        // the reasoning but not the content has no answer.
        let reasoning = "37 times 1 is 37";
        let content = "I am not sure.";
        assert_eq!(extract_final_number(reasoning), Some(37));
        assert_eq!(extract_final_number(content), None);
    }

    #[test]
    fn reference_strings_must_be_one_integer() {
        assert_eq!(parse_integer(" 1,234 "), Some(1234));
        assert_eq!(parse_integer("-17"), Some(-17));
        assert_eq!(parse_integer("12 apples"), None);
        assert_eq!(parse_integer("x7"), None);
        assert_eq!(parse_integer("3.5"), None);
        assert_eq!(parse_integer(""), None);
    }
}
