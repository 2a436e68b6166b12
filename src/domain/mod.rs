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

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(counted(1u32, "alert"), "1 alert");
        assert_eq!(counted(0u32, "alert"), "0 alerts");
        assert_eq!(counted(12i64, "open alert"), "12 open alerts");
    }
}
