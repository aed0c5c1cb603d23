//! Reading a CSV file: the header, then one checked row at a time, with bounded field sizes.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use csv::ByteRecord;

use super::report::RowError;

/// The largest field accepted, in bytes.
pub(super) const MAX_FIELD: usize = 64 * 1024;
/// The largest record read before giving up on the file (a quote left open swallows the rest).
const MAX_RECORD: u64 = 16 * 1024 * 1024;

/// The error a [`Guard`] raises when one record grows past [`MAX_RECORD`].
#[derive(Debug, thiserror::Error)]
#[error("a record longer than 16 MiB (is a quote left open?)")]
struct RecordTooLong;

/// Fails reads that run more than [`MAX_RECORD`] bytes past the start of the current record, so a
/// broken file cannot make the csv reader buffer it whole.
struct Guard<R> {
    inner: R,
    read: u64,
    limit: Rc<Cell<u64>>,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read > self.limit.get() {
            return Err(io::Error::other(RecordTooLong));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// An open CSV file positioned after its header.
pub(super) struct Source {
    reader: csv::Reader<Guard<Box<dyn Read>>>,
    limit: Rc<Cell<u64>>,
    headers: Vec<String>,
    size: Option<u64>,
}

impl Source {
    /// Opens `path` (`-` for stdin) and reads its header line.
    pub(super) fn open(path: &Path) -> anyhow::Result<Self> {
        let io_err = |source| crate::store::Error::Io {
            path: path.display().to_string(),
            source,
        };
        let (input, size): (Box<dyn Read>, Option<u64>) = if path.as_os_str() == "-" {
            (Box::new(io::stdin().lock()), None)
        } else {
            let file = File::open(path).map_err(io_err)?;
            let size = file.metadata().map(|m| m.len()).ok();
            (Box::new(file), size)
        };
        let limit = Rc::new(Cell::new(MAX_RECORD));
        let guard = Guard {
            inner: input,
            read: 0,
            limit: Rc::clone(&limit),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(guard);
        let mut header = ByteRecord::new();
        let found = reader.read_byte_record(&mut header).map_err(|e| {
            anyhow::anyhow!("{}: cannot read the header: {}", path.display(), reason(&e))
        })?;
        if !found {
            anyhow::bail!(
                "{} is empty: expected a header line naming the columns",
                path.display()
            );
        }
        let mut headers = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            let Ok(name) = std::str::from_utf8(raw) else {
                anyhow::bail!(
                    "{}: the header (line 1) is not valid UTF-8: save the file as UTF-8 (in Excel: Save As, CSV UTF-8) and import it again",
                    path.display()
                );
            };
            let name = name.trim();
            headers.push(if name.is_empty() {
                format!("(column {})", i + 1)
            } else {
                name.to_owned()
            });
        }
        let mut source = Self {
            reader,
            limit,
            headers,
            size,
        };
        source.rearm();
        Ok(source)
    }

    /// The column names, trimmed, without a byte order mark.
    pub(super) fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The file's size, when known (for the progress bar).
    pub(super) fn size(&self) -> Option<u64> {
        self.size
    }

    /// Bytes consumed so far.
    pub(super) fn position(&self) -> u64 {
        self.reader.position().byte()
    }

    /// Reads the next record; false at the end of the file.
    pub(super) fn next(&mut self, record: &mut ByteRecord) -> anyhow::Result<bool> {
        let line = self.reader.position().line();
        let more = self.reader.read_byte_record(record).map_err(|e| {
            anyhow::anyhow!(
                "row {line}: cannot read the rest of the file: {}",
                reason(&e)
            )
        })?;
        self.rearm();
        Ok(more)
    }

    fn rearm(&mut self) {
        self.limit.set(self.position() + MAX_RECORD);
    }
}

fn reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => {
            match io.get_ref().and_then(|i| i.downcast_ref::<RecordTooLong>()) {
                Some(too_long) => too_long.to_string(),
                None => io.to_string(),
            }
        }
        _ => e.to_string(),
    }
}

/// One row's values, checked for size and encoding; empty cells are `None`.
#[derive(Debug)]
pub(super) struct Row<'r> {
    values: Vec<Option<&'r str>>,
}

impl<'r> Row<'r> {
    /// The trimmed, non-empty value of column `i`.
    pub(super) fn get(&self, i: usize) -> Option<&'r str> {
        self.values.get(i).copied().flatten()
    }
}

/// The header's columns and which of them are imported.
#[derive(Debug)]
pub(super) struct Shape {
    /// Column names.
    pub(super) headers: Vec<String>,
    /// Whether each column is mapped to a field.
    pub(super) used: Vec<bool>,
}

impl Shape {
    /// Checks `record` against the header; `None` for a blank line.
    pub(super) fn row<'r>(&self, record: &'r ByteRecord) -> Option<Result<Row<'r>, Vec<RowError>>> {
        let width = self.headers.len();
        if record.len() != width {
            if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                return None;
            }
            let (column, what) = if record.len() < width {
                (self.headers[record.len()].clone(), "missing")
            } else {
                ((width + 1).to_string(), "an extra field")
            };
            let reason = format!(
                "{what}: the row has {} fields but the header has {width}; quote values that contain commas",
                record.len()
            );
            return Some(Err(vec![RowError::at(column, reason)]));
        }
        let mut values = Vec::with_capacity(width);
        let mut errors = Vec::new();
        for (i, raw) in record.iter().enumerate() {
            if !self.used[i] {
                values.push(None);
                continue;
            }
            if raw.len() > MAX_FIELD {
                errors.push(RowError::at(
                    &self.headers[i],
                    format!(
                        "the value has {} bytes, more than the limit of {} (64 KiB)",
                        crate::service::thousands(raw.len() as u64),
                        crate::service::thousands(MAX_FIELD as u64),
                    ),
                ));
                values.push(None);
                continue;
            }
            match std::str::from_utf8(raw) {
                Ok(s) => values.push(Some(s.trim()).filter(|s| !s.is_empty())),
                Err(e) => {
                    let at = e.valid_up_to();
                    let byte = raw.get(at).copied().unwrap_or(0);
                    errors.push(RowError::encoding(
                        &self.headers[i],
                        format!(
                            "not valid UTF-8 (byte 0x{byte:02X} at position {}); save the file as UTF-8 and import it again",
                            at + 1
                        ),
                    ));
                    values.push(None);
                }
            }
        }
        if errors.is_empty() {
            Some(Ok(Row { values }))
        } else {
            Some(Err(errors))
        }
    }
}
