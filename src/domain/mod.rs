//! The nouns and rules of siaga. Pure: no IO, no async, no clock reads
//! (time is passed in), nothing of SQL or HTTP.

pub mod alert;
pub mod auth;
pub mod escalation;
pub mod event;
pub mod incident;
pub mod ingest;
pub mod job;
pub mod org;
pub mod page;
pub mod schedule;

/// `n` and the noun, plural unless one: "1 alert", "3 alerts". For the
/// regular nouns of siaga's messages.
pub fn counted<N>(n: N, noun: &str) -> String
where
    N: std::fmt::Display + PartialEq + From<u8>,
{
    if n == N::from(1) {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `text` cut to at most `max` characters, the cut marked with an
/// ellipsis, for a line that must stay short (a title, a subject).
pub fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.truncate(short.trim_end().len());
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::{counted, shortened};

    #[test]
    fn shortened_keeps_short_text_and_cuts_long_text_on_a_character() {
        assert_eq!(shortened("disk full", 9), "disk full");
        assert_eq!(shortened("disk full", 6), "disk…");
        assert_eq!(shortened("éééé", 3), "éé…");
        assert_eq!(shortened("éééé", 3).chars().count(), 3);
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(counted(1u32, "alert"), "1 alert");
        assert_eq!(counted(0u32, "alert"), "0 alerts");
        assert_eq!(counted(12i64, "open alert"), "12 open alerts");
    }
}
