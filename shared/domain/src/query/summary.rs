//! Term summaries: what free-text search reads instead of every event.
//!
//! Sealing writes, for each event it hashes, the event's `occurred_at` and a
//! small Bloom filter of the byte trigrams of its `search_text()`, grouped
//! by the hour the event occurred in. A search for words reads the hours of
//! its range, keeps the events whose filter holds every trigram of every
//! word (never dropping a real match: a word that is a substring of the
//! text has all its trigrams there), and reads only those events' items.
//! False positives cost a read and are dropped by the exact match.

use thiserror::Error;

/// The span a summary groups events by (of `occurred_at`).
pub const HOUR_MS: i64 = 3_600_000;
/// Bloom filter bits per distinct trigram of the text (two hash functions:
/// about 0.24 false positives per trigram; a word of n letters has n − 2,
/// so 10⁻³ for a seven-letter word).
const BITS_PER_TRIGRAM: usize = 3;
/// The smallest filter, for short texts.
const MIN_BITS: usize = 64;
/// Largest encoded summary one item holds (DynamoDB's item limit is 400 KB).
pub const MAX_SUMMARY_BYTES: usize = 300_000;
/// The encoding's first byte.
const VERSION: u8 = 1;

/// The start of the hour `ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// One summarized event: when it occurred, and its text's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ms: i64,
    pub sig: Vec<u8>,
}

impl Entry {
    pub fn of(ms: i64, search_text: &str) -> Entry {
        Entry {
            ms,
            sig: signature(search_text),
        }
    }
}

/// What a search looks for in each filter: the trigrams of its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needles(Vec<u64>);

/// The trigrams of `words`, or `None` when no word has three bytes (then a
/// filter can rule nothing out, and the search reads every event).
pub fn needles(words: &[String]) -> Option<Needles> {
    let mut hashes: Vec<u64> = words
        .iter()
        .flat_map(|w| w.as_bytes().windows(3).map(trigram_hash))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    (!hashes.is_empty()).then_some(Needles(hashes))
}

/// The Bloom filter of `text`'s byte trigrams.
pub fn signature(text: &str) -> Vec<u8> {
    let mut hashes: Vec<u64> = text.as_bytes().windows(3).map(trigram_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let bits = (hashes.len() * BITS_PER_TRIGRAM).max(MIN_BITS).div_ceil(8) * 8;
    let mut sig = vec![0u8; bits / 8];
    for h in hashes {
        for p in positions(h, bits) {
            sig[p / 8] |= 1 << (p % 8);
        }
    }
    sig
}

/// Whether the text behind `sig` may contain every needle.
pub fn might_contain(sig: &[u8], needles: &Needles) -> bool {
    let bits = sig.len() * 8;
    if bits == 0 {
        return false;
    }
    needles.0.iter().all(|&h| {
        positions(h, bits)
            .into_iter()
            .all(|p| sig[p / 8] & (1 << (p % 8)) != 0)
    })
}

fn trigram_hash(t: &[u8]) -> u64 {
    let mut x = (u64::from(t[0]) << 16) | (u64::from(t[1]) << 8) | u64::from(t[2]);
    // splitmix64's finalizer: every input bit reaches every output bit.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn positions(h: u64, bits: usize) -> [usize; 2] {
    let bits = bits as u64;
    [
        ((h & 0xffff_ffff) % bits) as usize,
        ((h >> 32) % bits) as usize,
    ]
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SummaryError {
    #[error("a term summary is malformed: {0}")]
    Malformed(&'static str),
}

/// Encodes entries newest first: version, count, then per entry the
/// millisecond gap to the one before and the filter, each length-prefixed.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.ms));
    let mut out = Vec::with_capacity(8 + entries.iter().map(|e| e.sig.len() + 4).sum::<usize>());
    out.push(VERSION);
    put_varint(&mut out, sorted.len() as u64);
    let mut before = sorted.first().map_or(0, |e| e.ms);
    put_varint(&mut out, zigzag(before));
    for e in sorted {
        put_varint(&mut out, (before - e.ms) as u64);
        before = e.ms;
        put_varint(&mut out, e.sig.len() as u64);
        out.extend_from_slice(&e.sig);
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<Vec<Entry>, SummaryError> {
    let mut r = Reader { bytes, at: 0 };
    if r.byte()? != VERSION {
        return Err(SummaryError::Malformed("unknown version"));
    }
    let n = r.varint()?;
    // Every entry takes at least two bytes.
    if n > bytes.len() as u64 {
        return Err(SummaryError::Malformed("count larger than the summary"));
    }
    let mut ms = unzigzag(r.varint()?);
    let mut entries = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let gap = i64::try_from(r.varint()?).map_err(|_| SummaryError::Malformed("gap"))?;
        ms = ms.checked_sub(gap).ok_or(SummaryError::Malformed("gap"))?;
        let len = usize::try_from(r.varint()?).map_err(|_| SummaryError::Malformed("length"))?;
        let sig = r.take(len)?.to_vec();
        entries.push(Entry { ms, sig });
    }
    if r.at != bytes.len() {
        return Err(SummaryError::Malformed("trailing bytes"));
    }
    Ok(entries)
}

/// Splits entries into groups whose encodings stay under `MAX_SUMMARY_BYTES`.
pub fn chunks(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut out: Vec<Vec<Entry>> = Vec::new();
    let mut size = 0usize;
    for e in entries {
        let len = e.sig.len() + 24;
        if out.is_empty() || size + len > MAX_SUMMARY_BYTES {
            out.push(Vec::new());
            size = 16;
        }
        size += len;
        if let Some(last) = out.last_mut() {
            last.push(e);
        }
    }
    out
}

/// The millisecond ranges `(lo, hi)`, newest first, that hold every
/// candidate and no other millisecond known to hold only non-candidates:
/// one read each. `entries` is `(ms, candidate)` for every event known.
pub fn runs(entries: &[(i64, bool)]) -> Vec<(i64, i64)> {
    let mut by_ms: Vec<(i64, bool)> = entries.to_vec();
    by_ms.sort_by_key(|e| std::cmp::Reverse(e.0));
    // A millisecond is a candidate when any event in it is.
    let mut merged: Vec<(i64, bool)> = Vec::with_capacity(by_ms.len());
    for (ms, c) in by_ms {
        match merged.last_mut() {
            Some(last) if last.0 == ms => last.1 |= c,
            _ => merged.push((ms, c)),
        }
    }
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut open: Option<(i64, i64)> = None;
    for (ms, c) in merged {
        match (c, open.as_mut()) {
            (true, Some(run)) => run.0 = ms,
            (true, None) => open = Some((ms, ms)),
            (false, _) => out.extend(open.take()),
        }
    }
    out.extend(open);
    out
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, SummaryError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or(SummaryError::Malformed("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, SummaryError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(SummaryError::Malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SummaryError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(SummaryError::Malformed("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_word_in_the_text_is_never_ruled_out() {
        let text = "ada lovelace deployed model mixtral (deployment dep_42)\nusr_ada\nmodel";
        let sig = signature(text);
        for w in ["mixtral", "ada", "dep_42", "love", "l mix", "(deployment"] {
            let n = needles(&words(&[w])).unwrap();
            assert!(might_contain(&sig, &n), "{w}");
        }
    }

    #[test]
    fn a_word_not_in_the_text_is_usually_ruled_out() {
        let sig = signature("ada lovelace deployed model llama-3 (deployment dep_42)");
        let ruled_out = [
            "mixtral",
            "granite",
            "nemotron",
            "zephyr",
            "vicuna",
            "starcoder",
        ]
        .iter()
        .filter(|w| !might_contain(&sig, &needles(&words(&[w])).unwrap()))
        .count();
        assert!(ruled_out >= 5, "only {ruled_out} of 6 ruled out");
    }

    #[test]
    fn words_shorter_than_three_bytes_give_no_needles() {
        assert_eq!(needles(&words(&["ab", "c"])), None);
        assert_eq!(needles(&[]), None);
        assert!(needles(&words(&["ab", "abc"])).is_some());
    }

    #[test]
    fn an_empty_text_matches_no_needle() {
        let n = needles(&words(&["abc"])).unwrap();
        assert!(!might_contain(&signature(""), &n));
        assert!(!might_contain(&[], &n));
    }

    #[test]
    fn entries_round_trip_newest_first() {
        let entries = vec![
            Entry::of(1_000, "alpha"),
            Entry::of(5_000, "beta"),
            Entry::of(5_000, "gamma"),
            Entry::of(-3, "pre-1970"),
        ];
        let back = decode(&encode(&entries)).unwrap();
        let mut want = entries.clone();
        want.sort_by_key(|e| std::cmp::Reverse(e.ms));
        assert_eq!(back, want);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn malformed_summaries_are_errors() {
        let good = encode(&[Entry::of(7, "seven")]);
        assert!(decode(&good[..good.len() - 1]).is_err(), "truncated");
        let mut extra = good.clone();
        extra.push(0);
        assert!(decode(&extra).is_err(), "trailing");
        let mut version = good;
        version[0] = 9;
        assert!(decode(&version).is_err(), "version");
        assert!(decode(&[]).is_err(), "empty");
        assert!(
            decode(&[VERSION, 0xff, 0xff, 0xff, 0x0f]).is_err(),
            "huge count"
        );
    }

    #[test]
    fn chunks_stay_under_the_item_limit() {
        // About 1,000 distinct trigrams each: 375-byte filters.
        let big: String = (0..2_000).map(|j| format!("{j:04}")).collect();
        let entries: Vec<Entry> = (0..1_000).map(|i| Entry::of(i, &big)).collect();
        let chunks = chunks(entries);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 1_000);
        for c in &chunks {
            assert!(encode(c).len() <= MAX_SUMMARY_BYTES, "{}", encode(c).len());
        }
    }

    #[test]
    fn runs_join_neighbouring_candidates_and_split_at_others() {
        let e = [
            (10, true),
            (9, true),
            (8, false),
            (7, true),
            (6, true),
            (6, false), // a millisecond with a candidate is read
            (5, true),
            (3, false),
            (2, false),
            (1, true),
        ];
        assert_eq!(runs(&e), vec![(9, 10), (5, 7), (1, 1)]);
        assert_eq!(runs(&[(4, false)]), vec![]);
        assert_eq!(runs(&[]), vec![]);
    }

    #[test]
    fn hours_start_on_the_hour() {
        assert_eq!(hour_of(HOUR_MS + 5), HOUR_MS);
        assert_eq!(hour_of(HOUR_MS), HOUR_MS);
        assert_eq!(hour_of(-1), -HOUR_MS);
    }

    proptest! {
        #[test]
        fn every_substring_of_the_text_may_match(text in "[a-z0-9 _@.-]{0,200}", a in 0usize..200, len in 3usize..20) {
            let sig = signature(&text);
            if a + len <= text.len() {
                let w = text[a..a + len].to_string();
                let n = needles(&[w]).unwrap();
                prop_assert!(might_contain(&sig, &n));
            }
        }

        #[test]
        fn any_entries_round_trip(ms in proptest::collection::vec(0i64..4_000_000_000_000, 0..50)) {
            let entries: Vec<Entry> = ms.iter().map(|&m| Entry::of(m, "t")).collect();
            let mut want = entries.clone();
            want.sort_by_key(|e| std::cmp::Reverse(e.ms));
            prop_assert_eq!(decode(&encode(&entries)).unwrap(), want);
        }
    }
}
