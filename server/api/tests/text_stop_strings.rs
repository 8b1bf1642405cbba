//! StopStrings: matched text and everything after it never emitted, whatever the chunking.

mod text_support;

use ponder::text::StopStrings;
use text_support::{cut_at, inner_boundaries, two_and_three_piece_chunkings, Rng};

/// Naive reference: generation stops at the first char where some stop string is
/// complete; the text before that stop string, and whether one matched.
fn reference(text: &str, stops: &[&str]) -> (String, bool) {
    for end in (1..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        let seen = &text[..end];
        if let Some(stop) = stops
            .iter()
            .filter(|s| !s.is_empty() && seen.ends_with(*s))
            .max_by_key(|s| s.len())
        {
            return (seen[..end - stop.len()].to_owned(), true);
        }
    }
    (text.to_owned(), false)
}

/// Naive reference for how much of `seen` may be emitted: all of it except the longest
/// suffix that is a proper prefix of a stop string.
fn reference_safe_len(seen: &str, stops: &[&str]) -> usize {
    (0..=seen.len())
        .filter(|&i| seen.is_char_boundary(i))
        .find(|&i| {
            let suffix = &seen[i..];
            suffix.is_empty()
                || stops
                    .iter()
                    .any(|s| s.len() > suffix.len() && s.starts_with(suffix))
        })
        .unwrap()
}

/// Streams `chunks` through a matcher, checking after every push that exactly the
/// safe text has been emitted; returns (emitted text incl. finish, stopped).
fn stream(chunks: &[&str], stops: &[&str]) -> (String, bool) {
    let mut matcher = StopStrings::new(stops);
    let mut emitted = String::new();
    let mut seen = String::new();
    for chunk in chunks {
        seen.push_str(chunk);
        let delta = matcher.push(chunk);
        emitted.push_str(&delta.text);
        let (before_stop, stopped) = reference(&seen, stops);
        assert_eq!(delta.stopped, stopped, "chunks {chunks:?}");
        if stopped {
            assert_eq!(emitted, before_stop, "chunks {chunks:?}");
            return (emitted, true);
        }
        assert_eq!(
            emitted,
            seen[..reference_safe_len(&seen, stops)],
            "chunks {chunks:?}"
        );
    }
    emitted.push_str(&matcher.finish());
    (emitted, matcher.stopped())
}

#[test]
fn a_stop_string_is_found_at_every_split_point_and_nothing_after_it_is_emitted() {
    let text = "The answer is 42.###Ignored tail";
    let stops = ["###"];
    for chunks in two_and_three_piece_chunkings(text) {
        assert_eq!(
            stream(&chunks, &stops),
            ("The answer is 42.".to_owned(), true)
        );
    }
}

#[test]
fn a_partial_stop_string_is_held_and_released_by_finish() {
    let mut matcher = StopStrings::new(&["##"]);
    let delta = matcher.push("abc#");
    assert_eq!((delta.text.as_str(), delta.stopped), ("abc", false));
    assert_eq!(matcher.finish(), "#");
    assert!(!matcher.stopped());
}

#[test]
fn a_held_prefix_that_stops_matching_is_released_with_the_next_chunk() {
    let mut matcher = StopStrings::new(&["STOP"]);
    assert_eq!(matcher.push("go ST").text, "go ");
    assert_eq!(matcher.push("ART").text, "START");
}

#[test]
fn the_stop_string_completed_first_wins_even_if_another_started_earlier() {
    // "é" completes before "#é#" does: generation would have stopped there.
    let stops = ["#é#", "é"];
    for chunks in two_and_three_piece_chunkings("a#é#b") {
        assert_eq!(stream(&chunks, &stops), ("a#".to_owned(), true));
    }
}

#[test]
fn the_earliest_of_several_stop_strings_wins() {
    let stops = ["STOP", "END"];
    for chunks in two_and_three_piece_chunkings("xx END yy STOP") {
        assert_eq!(stream(&chunks, &stops), ("xx ".to_owned(), true));
    }
}

#[test]
fn multi_byte_stop_strings_match_across_every_char_boundary() {
    let stops = ["→→", "終わり"];
    for text in ["a→b→→c", "答えは終わり。", "→終わ→→"] {
        let expected = reference(text, &stops);
        for chunks in two_and_three_piece_chunkings(text) {
            assert_eq!(stream(&chunks, &stops), expected, "{text}");
        }
    }
}

#[test]
fn after_a_match_every_push_is_empty_and_stopped() {
    let mut matcher = StopStrings::new(&["x"]);
    assert!(matcher.push("abxcd").stopped);
    let after = matcher.push("more");
    assert_eq!((after.text.as_str(), after.stopped), ("", true));
    assert_eq!(matcher.finish(), "");
}

#[test]
fn no_stop_strings_or_empty_ones_pass_text_through_unchanged() {
    let none: [&str; 0] = [];
    let mut plain = StopStrings::new(&none);
    assert_eq!(plain.push("a#b").text, "a#b");
    let mut empty = StopStrings::new(&[""]);
    assert_eq!(empty.push("a#b").text, "a#b");
    assert!(!empty.stopped());
}

#[test]
fn random_texts_and_chunkings_agree_with_the_naive_reference() {
    let mut rng = Rng::new(42);
    let alphabet = ['a', 'b', '#', 'é'];
    let stop_pool = ["##", "a#b", "ab", "#é#", "bbb", "é"];
    for _ in 0..20_000 {
        let text: String = (0..rng.below(14))
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let stops: Vec<&str> = (0..1 + rng.below(2))
            .map(|_| stop_pool[rng.below(stop_pool.len())])
            .collect();
        let mut cuts = inner_boundaries(&text);
        cuts.retain(|_| rng.below(2) == 0);
        let chunks = cut_at(&text, &cuts);
        assert_eq!(
            stream(&chunks, &stops),
            reference(&text, &stops),
            "{text:?} {stops:?}"
        );
    }
}
