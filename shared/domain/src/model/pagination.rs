//! Lists answer `{"items": [...], "pagination": {"after": cursor | null}}` (docs/contract.md, section 4).

use super::error::Error;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Serialize, Serializer};

/// The page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `limit`.
pub const MAX_LIMIT: usize = 100;

/// One page of a list. `after` is the position of the last item, when more may follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// The position of the last item, when more may follow.
    pub after: Option<String>,
}

impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Pagination {
            after: Option<String>,
        }
        #[derive(Serialize)]
        struct Body<'a, T> {
            items: &'a [T],
            pagination: Pagination,
        }
        Body { items: &self.items, pagination: Pagination { after: self.after.as_deref().map(encode_cursor) } }
            .serialize(serializer)
    }
}

/// Cursors are opaque to callers: the position, base64url-encoded.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

/// A cursor's position. Every list's position is an id this service gave out (a UUID), so
/// anything else is refused before it reaches the store (where, as part of a key, it could
/// exceed DynamoDB's key size limit).
pub fn decode_cursor(cursor: &str) -> Result<String, Error> {
    decode_cursor_of(cursor, super::ids::is_uuid).map(|position| position.to_ascii_lowercase())
}

/// A cursor's position, for a list whose positions `is_position` recognises (at most 48 bytes).
pub fn decode_cursor_of(cursor: &str, is_position: fn(&str) -> bool) -> Result<String, Error> {
    // A cursor of a UUID is 48 characters; a longer one is not ours, whatever it decodes to.
    Some(cursor)
        .filter(|cursor| cursor.len() <= 64)
        .and_then(|cursor| URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|position| is_position(position))
        .ok_or_else(|| Error::validation("after: not a cursor returned by this API"))
}

/// The most a page's JSON may weigh: Lambda answers at most 6 MB, and the rest of the answer
/// (headers, the envelope) needs room too.
pub const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;

impl<T: Serialize> Page<T> {
    /// Ends the page early when its items would weigh more than `max_bytes` as JSON; the cursor
    /// then points after the last item kept, so no item is ever skipped. `position` is what the
    /// cursor of an item is.
    pub fn fit_within(mut self, max_bytes: usize, position: impl Fn(&T) -> String) -> Page<T> {
        let mut total = 0;
        let keep = self
            .items
            .iter()
            .position(|item| {
                total += serde_json::to_vec(item).map(|bytes| bytes.len() + 1).unwrap_or(0);
                total > max_bytes
            })
            // Always keep one item, however large, so that paging makes progress.
            .map(|first_over| first_over.max(1));
        if let Some(keep) = keep {
            if keep < self.items.len() {
                self.items.truncate(keep);
                self.after = self.items.last().map(&position);
            }
        }
        self
    }
}

/// `limit`: 1 to 100, 20 when absent.
pub fn parse_limit(raw: Option<&str>) -> Result<usize, Error> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(Error::validation(format!("limit: must be an integer from 1 to {MAX_LIMIT}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let cursor = encode_cursor(id);
        assert_eq!(decode_cursor(&cursor).unwrap(), id);
        for bad in ["%%%".to_string(), encode_cursor("0193-abc"), encode_cursor(&"a".repeat(1500))] {
            assert_eq!(decode_cursor(&bad).unwrap_err().public_message(), "after: not a cursor returned by this API");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None).unwrap(), 20);
        assert_eq!(parse_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn heavy_pages_end_early_with_a_cursor_to_what_follows() {
        let page = Page { items: vec!["a".repeat(10), "b".repeat(10), "c".repeat(10)], after: None };
        // Each item weighs 13 bytes as JSON (12 plus a separator).
        let fitted = page.clone().fit_within(30, |s| s[..1].to_string());
        assert_eq!(fitted, Page { items: vec!["a".repeat(10), "b".repeat(10)], after: Some("b".into()) });
        assert_eq!(page.clone().fit_within(1_000, |s| s.clone()), page);
        let one = page.fit_within(1, |s| s[..1].to_string());
        assert_eq!(one, Page { items: vec!["a".repeat(10)], after: Some("a".into()) });
    }

    #[test]
    fn pages_serialize_with_their_cursor() {
        let page = Page { items: vec![1, 2], after: Some("x".to_string()) };
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            json!({"items": [1, 2], "pagination": {"after": encode_cursor("x")}})
        );
        let last: Page<u8> = Page { items: vec![], after: None };
        assert_eq!(serde_json::to_value(&last).unwrap(), json!({"items": [], "pagination": {"after": null}}));
    }
}
