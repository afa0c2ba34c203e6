//! Ids this service gives out are UUIDs (version 7, so they sort by creation time). Anything that
//! is not shaped like one cannot name a resource, and is refused before any lookup: a key built
//! from it could exceed the store's key size limit.

/// Whether `value` has the shape of a UUID (`8-4-4-4-12` hexadecimal digits).
pub fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// At most `max` characters of a client's value, for an error message.
pub fn shown(value: &str, max: usize) -> String {
    let short: String = value.chars().take(max).collect();
    if short.len() < value.len() {
        format!("{short}...")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shapes() {
        assert!(is_uuid("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert!(is_uuid("0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"));
        for bad in
            ["", "nope", "0193a1b2c3d47e5f8a9b0c1d2e3f4a5b", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g", &"a".repeat(1500)]
        {
            assert!(!is_uuid(bad), "{bad}");
        }
        assert_eq!(shown("abcdef", 3), "abc...");
        assert_eq!(shown("abc", 3), "abc");
    }
}
