//! Packing encoded items into request bodies under a count and a byte limit,
//! the one batching rule every destination shares.

/// How one request body is framed around its items.
#[derive(Debug, Clone, Copy)]
pub struct Framing<'a> {
    pub open: &'a [u8],
    pub separator: &'a [u8],
    pub close: &'a [u8],
}

impl Framing<'_> {
    /// A JSON array: `[a,b,c]`.
    pub const JSON_ARRAY: Framing<'static> = Framing {
        open: b"[",
        separator: b",",
        close: b"]",
    };
    /// Newline-separated items with no wrapper (JSON lines, HEC).
    pub const LINES: Framing<'static> = Framing {
        open: b"",
        separator: b"\n",
        close: b"",
    };
}

/// Request bodies in order, and whether the last one is full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bodies {
    pub bodies: Vec<Vec<u8>>,
    /// The last body holds `max_items` items, or one more item of its
    /// items' average size would not fit in `max_bytes`. Every body
    /// before the last is full by construction: the next item did not fit.
    pub last_is_full: bool,
}

impl std::ops::Deref for Bodies {
    type Target = [Vec<u8>];

    fn deref(&self) -> &[Vec<u8>] {
        &self.bodies
    }
}

/// Packs `items` in order into bodies of at most `max_items` items and
/// `max_bytes` bytes (framing included). An item too big on its own still
/// goes out, alone, so the destination can say what it thinks of it.
pub fn pack(
    items: impl IntoIterator<Item = Vec<u8>>,
    framing: Framing<'_>,
    max_items: usize,
    max_bytes: usize,
) -> Bodies {
    let mut bodies = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut count = 0;
    // The last body's items' bytes, for its average.
    let mut item_bytes = 0usize;
    for item in items {
        // `body` already holds the opening and earlier items.
        let grown = body.len() + framing.separator.len() + item.len() + framing.close.len();
        if count > 0 && (count >= max_items || grown > max_bytes) {
            body.extend_from_slice(framing.close);
            bodies.push(std::mem::take(&mut body));
            count = 0;
            item_bytes = 0;
        }
        if count == 0 {
            body.extend_from_slice(framing.open);
        } else {
            body.extend_from_slice(framing.separator);
        }
        body.extend_from_slice(&item);
        item_bytes += item.len();
        count += 1;
    }
    let mut last_is_full = false;
    if count > 0 {
        let average = item_bytes.div_ceil(count);
        last_is_full = count >= max_items
            || body.len() + framing.separator.len() + average + framing.close.len() > max_bytes;
        body.extend_from_slice(framing.close);
        bodies.push(body);
    }
    Bodies {
        bodies,
        last_is_full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize, size: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| vec![b'x'; size]).collect()
    }

    #[test]
    fn nothing_to_send_makes_no_bodies() {
        assert!(pack(Vec::new(), Framing::JSON_ARRAY, 10, 100).is_empty());
    }

    #[test]
    fn bodies_respect_the_item_limit() {
        let bodies = pack(items(25, 1), Framing::JSON_ARRAY, 10, 1_000);
        let counts: Vec<usize> = bodies
            .iter()
            .map(|b| b.iter().filter(|&&c| c == b'x').count())
            .collect();
        assert_eq!(counts, [10, 10, 5]);
    }

    #[test]
    fn bodies_respect_the_byte_limit_including_framing() {
        // "[x,x,x]" is 7 bytes, "[x,x,x,x]" is 9.
        let bodies = pack(items(8, 1), Framing::JSON_ARRAY, 100, 8);
        assert_eq!(
            bodies.bodies,
            [b"[x,x,x]".to_vec(), b"[x,x,x]".to_vec(), b"[x,x]".to_vec()]
        );
        for max in 3..40 {
            let bodies = pack(items(20, 1), Framing::JSON_ARRAY, 100, max);
            assert!(bodies.iter().all(|b| b.len() <= max), "{max}");
            // Full: one more item would not have fitted.
            let full = &bodies[..bodies.len() - 1];
            assert!(full.iter().all(|b| b.len() + 2 > max), "{max}");
        }
    }

    #[test]
    fn an_oversize_item_goes_alone() {
        let input = vec![b"a".to_vec(), vec![b'b'; 50], b"c".to_vec()];
        let bodies = pack(input, Framing::LINES, 100, 10);
        assert_eq!(
            bodies.bodies,
            [b"a".to_vec(), vec![b'b'; 50], b"c".to_vec()]
        );
    }

    #[test]
    fn the_last_body_is_full_when_one_more_item_would_not_fit() {
        // By count: 20 items in bodies of 10.
        assert!(pack(items(20, 1), Framing::JSON_ARRAY, 10, 1_000).last_is_full);
        assert!(!pack(items(15, 1), Framing::JSON_ARRAY, 10, 1_000).last_is_full);
        // By bytes: "[xx,xx,xx]" is 10 bytes; one more "xx" makes 13.
        assert!(pack(items(3, 2), Framing::JSON_ARRAY, 100, 12).last_is_full);
        assert!(!pack(items(3, 2), Framing::JSON_ARRAY, 100, 13).last_is_full);
        // Full or not, a body is never over its limit, and nothing is full
        // when there is nothing.
        for n in 1..30 {
            let packed = pack(items(n, 3), Framing::LINES, 100, 20);
            assert!(packed.iter().all(|b| b.len() <= 20));
            let last = packed.last().map_or(0, Vec::len);
            assert_eq!(packed.last_is_full, last + 1 + 3 > 20, "{n}");
        }
        assert!(!pack(Vec::new(), Framing::LINES, 10, 100).last_is_full);
    }

    #[test]
    fn items_keep_their_order_across_bodies() {
        let input: Vec<Vec<u8>> = (0..10).map(|i| i.to_string().into_bytes()).collect();
        let joined: Vec<u8> = pack(input, Framing::LINES, 3, 100).bodies.join(&b'\n');
        assert_eq!(joined, b"0\n1\n2\n3\n4\n5\n6\n7\n8\n9");
    }
}
