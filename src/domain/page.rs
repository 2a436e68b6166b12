//! Cursor pagination: a page of items and an opaque cursor for the next one.
//! Cursors are the sort key of the last item seen, so pages stay stable while
//! rows are appended, unlike offsets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Encodes a sort key into an opaque cursor.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Decodes a cursor made by [`encode_cursor`]; `None` when it is not one.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()
}

/// Builds a page from up to `limit + 1` items fetched in order: the extra
/// item only tells that there is a next page.
pub fn page_from<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        assert_eq!(
            decode_cursor(&encode_cursor("checkout")).as_deref(),
            Some("checkout")
        );
        assert_eq!(decode_cursor("***"), None);
    }

    #[test]
    fn page_has_cursor_only_when_more_items_exist() {
        let page = page_from(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, [1, 2]);
        assert_eq!(
            decode_cursor(page.next_cursor.as_deref().unwrap()).as_deref(),
            Some("2")
        );
        let last = page_from(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
