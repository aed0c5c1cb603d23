//! A tiny little-endian reader and writer for the plugins' model bytes.

/// Appends fixed-size little-endian values.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty buffer.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Appends one byte.
    pub fn u8(mut self, v: u8) -> Writer {
        self.bytes.push(v);
        self
    }

    /// Appends a `u64`.
    pub fn u64(mut self, v: u64) -> Writer {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends an `i64`.
    pub fn i64(mut self, v: i64) -> Writer {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends an `f64`.
    pub fn f64(mut self, v: f64) -> Writer {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads fixed-size little-endian values; every read is `None` past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    /// Reads an `i64`.
    pub fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }

    /// Reads an `f64`.
    pub fn f64(&mut self) -> Option<f64> {
        self.take().map(f64::from_le_bytes)
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// FNV-1a 64-bit hash of `text`: a model records the configuration it was built
/// with this way, so a model built under another configuration is recognised as stale.
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_stops_at_the_end() {
        let bytes = Writer::new().u8(7).u64(u64::MAX).i64(-5).f64(0.25).finish();
        assert_eq!(bytes.len(), 25);
        let mut r = Reader::new(&bytes);
        assert_eq!(
            (r.u8(), r.u64(), r.i64(), r.f64()),
            (Some(7), Some(u64::MAX), Some(-5), Some(0.25))
        );
        assert!(r.is_empty());
        assert_eq!(r.u8(), None);
        assert_eq!(Reader::new(&[1, 2, 3]).u64(), None);
    }

    #[test]
    fn fingerprint_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fingerprint("USD|weeks"), fingerprint("EUR|weeks"));
    }
}
