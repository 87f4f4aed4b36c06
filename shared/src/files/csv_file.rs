//! The rules every uploaded CSV follows (file-formats.md, "Rules for every CSV"): encoding,
//! header normalisation, instruction rows, blank rows, spreadsheet row numbers, row width and
//! cell length. Streams the bytes once; never holds the file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;

use super::report::{FileIssue, Issue, codes};

/// How the file's bytes were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TextEncoding {
    /// UTF-8 without a byte-order mark.
    #[serde(rename = "utf-8")]
    Utf8,
    /// UTF-8 with a byte-order mark.
    #[serde(rename = "utf-8-bom")]
    Utf8Bom,
    /// Not valid UTF-8, so read as Windows-1252 (what Excel on Windows writes).
    #[serde(rename = "windows-1252")]
    Windows1252,
}

impl TextEncoding {
    /// Reads back a name written in reports.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Utf8, Self::Utf8Bom, Self::Windows1252]
            .into_iter()
            .find(|e| e.name() == name)
    }

    /// The name written in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Utf8Bom => "utf-8-bom",
            Self::Windows1252 => "windows-1252",
        }
    }
}

/// The longest a cell may be, in characters.
pub const MAX_CELL_CHARS: usize = 300;

/// A normalised header: names trimmed, upper-cased, spaces and `-` as `_`.
#[derive(Debug, Clone)]
pub struct Header {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    /// The normalised column names in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The position of a column, by its normalised name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// Normalises a header cell: trimmed, upper-cased, spaces and `-` become `_`.
pub fn normalise_column(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// A data row: its spreadsheet row number and its cells, trimmed, in header order.
#[derive(Debug)]
pub struct Row<'a> {
    /// Spreadsheet numbering: the header is row 1.
    pub number: u64,
    /// The trimmed cells (exactly as many as header columns).
    pub cells: &'a [&'a str],
}

impl Row<'_> {
    /// The trimmed cell at `position`, or `""` when the column is absent.
    pub fn get(&self, position: Option<usize>) -> &str {
        position
            .and_then(|p| self.cells.get(p))
            .copied()
            .unwrap_or("")
    }
}

/// What a CSV schema does with a file's header and rows.
pub trait RowVisitor {
    /// Checks the header; returns file errors (missing columns, …) and header warnings.
    fn header(&mut self, header: &Header) -> HeaderCheck;
    /// Validates one well-formed data row (the right width, no cell too long).
    fn row(&mut self, row: &Row<'_>);
    /// Records a row error found by the generic rules (width, cell length).
    fn row_error(&mut self, issue: Issue);
}

/// The outcome of checking a header.
#[derive(Debug, Default)]
pub struct HeaderCheck {
    /// File errors: reading stops.
    pub file_errors: Vec<FileIssue>,
    /// Warnings (unknown columns).
    pub warnings: Vec<Issue>,
}

/// What a pass over the file found at the file level.
#[derive(Debug)]
pub struct PassSummary {
    /// How the bytes were decoded.
    pub encoding: TextEncoding,
    /// Data rows seen (blank and instruction rows excluded).
    pub rows: u64,
    /// File-level errors (reading stopped at the first).
    pub file_errors: Vec<FileIssue>,
    /// Header warnings.
    pub header_warnings: Vec<Issue>,
    /// Bytes read.
    pub bytes: u64,
}

/// Reading could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not UTF-8: the caller starts again as Windows-1252.
    #[error("the file is not valid UTF-8")]
    NotUtf8,
    /// The underlying stream failed.
    #[error("the file could not be read: {0}")]
    Io(String),
}

fn is_instruction_cell(cell: &str) -> bool {
    for word in ["required", "optional"] {
        // Compared as bytes: the cell's byte 8 may fall inside a character (`Björn-Åke`).
        let prefix = cell.as_bytes().get(..word.len());
        if prefix.is_some_and(|p| p.eq_ignore_ascii_case(word.as_bytes())) {
            return matches!(
                cell.as_bytes().get(word.len()),
                None | Some(b':' | b',' | b'.')
            );
        }
    }
    false
}

fn decode<'a>(bytes: &'a [u8], encoding: TextEncoding) -> Result<Cow<'a, str>, ReadError> {
    match encoding {
        TextEncoding::Windows1252 => Ok(encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0),
        _ => std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|_| ReadError::NotUtf8),
    }
}

/// Trims white space (Unicode's, so Excel's non-breaking spaces go too), with a fast exit for
/// the usual cell that starts and ends with a visible ASCII character.
#[inline]
fn trim_cell(s: &str) -> &str {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&f), Some(&l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => s,
        (None, _) => s,
        _ => trim_rest(s),
    }
}

#[inline(never)]
fn trim_rest(s: &str) -> &str {
    s.trim()
}

/// Reads one CSV stream with the given encoding, feeding the header and rows to `visitor`:
/// each record is either the header (until one is read), or a row whose cells are split,
/// skipped when blank or the instruction row, and checked for width and cell length before the
/// visitor sees it.
///
/// Returns [`ReadError::NotUtf8`] as soon as a UTF-8 pass meets bytes that are not UTF-8; the
/// caller then reads the file again from the start as Windows-1252 (see [`read_csv`]).
pub fn read_pass<R: Read, V: RowVisitor>(
    input: R,
    encoding: TextEncoding,
    visitor: &mut V,
) -> Result<PassSummary, ReadError> {
    let mut records = Records::new(input)?;
    let mut encoding = encoding;
    if encoding != TextEncoding::Windows1252 && records.had_bom {
        encoding = TextEncoding::Utf8Bom;
    }
    let mut summary = PassSummary {
        encoding,
        rows: 0,
        file_errors: Vec::new(),
        header_warnings: Vec::new(),
        bytes: 0,
    };
    // The header and the row breaks (line ends outside quoted cells, blank lines included)
    // before it: a row's spreadsheet number is the row breaks between the two, plus one.
    let mut header: Option<(Header, u64)> = None;
    let mut first_data_row = true;
    let mut spare_cells: Vec<&'static str> = Vec::new();
    let mut scratch = Scratch::default();

    while records.next_record()? {
        let breaks = records.record_breaks;
        let (bytes, quoted) = records.record();

        let Some((ref hdr, header_breaks)) = header else {
            match read_header(bytes, quoted, &mut encoding, visitor, &mut summary)? {
                HeaderStep::Blank => continue,
                HeaderStep::Refused => {
                    summary.bytes = records.position();
                    return Ok(summary);
                }
                HeaderStep::Read(built) => header = Some((built, breaks)),
            }
            continue;
        };

        let mut cells = recycle(std::mem::take(&mut spare_cells));
        split_cells(bytes, quoted, encoding, &mut scratch, &mut cells)?;
        let skipped = cells.iter().all(|c| c.is_empty())
            || (std::mem::take(&mut first_data_row) && is_instruction_cell(cells[0]));
        if !skipped {
            summary.rows += 1;
            visit_checked(hdr, breaks - header_breaks + 1, &cells, visitor);
        }
        spare_cells = recycle(cells);
    }

    if header.is_none() || summary.rows == 0 {
        summary.file_errors.push(FileIssue::new(
            codes::NO_ROWS,
            "The file has no data rows; add at least one child below the header",
        ));
    }
    summary.bytes = records.position();
    Ok(summary)
}

/// What a record read as the header came to.
enum HeaderStep {
    /// A blank line before the header: skipped.
    Blank,
    /// The header has file errors (in the summary): reading stops.
    Refused,
    /// The header.
    Read(Header),
}

/// Reads the header record: its column names (normalised, a byte-order mark dropped), checked
/// for semicolons and duplicates, then by the visitor. Sets `encoding` to UTF-8 with BOM when
/// the first name starts with one.
fn read_header<V: RowVisitor>(
    bytes: &[u8],
    quoted: Option<&[Span]>,
    encoding: &mut TextEncoding,
    visitor: &mut V,
    summary: &mut PassSummary,
) -> Result<HeaderStep, ReadError> {
    let mut fields = Vec::new();
    for_each_field(bytes, quoted, |a, b| fields.push((a, b)));
    if fields
        .iter()
        .all(|&(a, b)| bytes[a..b].trim_ascii().is_empty())
    {
        return Ok(HeaderStep::Blank);
    }
    let mut names = Vec::with_capacity(fields.len());
    for (i, &(a, b)) in fields.iter().enumerate() {
        let mut field = &bytes[a..b];
        if i == 0
            && let Some(rest) = field.strip_prefix(b"\xEF\xBB\xBF")
        {
            field = rest;
            if *encoding != TextEncoding::Windows1252 {
                *encoding = TextEncoding::Utf8Bom;
            }
        }
        names.push(normalise_column(&decode(field, *encoding)?));
    }
    summary.encoding = *encoding;
    if names.len() == 1 && names[0].contains(';') {
        summary.file_errors.push(FileIssue::new(
            codes::NOT_COMMA_SEPARATED,
            "The file uses semicolons between columns; save it as CSV with commas (in Excel: \"CSV UTF-8 (Comma delimited)\")",
        ));
        return Ok(HeaderStep::Refused);
    }
    let mut index = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if index.insert(name.clone(), i).is_some() {
            summary.file_errors.push(FileIssue::new(
                codes::DUPLICATE_COLUMN,
                format!("The column {name} appears more than once; keep one"),
            ));
        }
    }
    let built = Header { names, index };
    if summary.file_errors.is_empty() {
        let check = visitor.header(&built);
        summary.file_errors.extend(check.file_errors);
        summary.header_warnings.extend(check.warnings);
    }
    Ok(match summary.file_errors.is_empty() {
        true => HeaderStep::Read(built),
        false => HeaderStep::Refused,
    })
}

/// Buffers for rows that are not plain UTF-8, reused from row to row.
#[derive(Default)]
struct Scratch {
    /// Their decoded cells, back to back.
    decoded: String,
    /// Where each decoded cell is.
    spans: Vec<Span>,
    /// Where each raw field is.
    raw_spans: Vec<Span>,
}

/// Splits a row's record into trimmed cells. The usual row is UTF-8 whose cells start and end
/// on character boundaries (a lone lead byte before a comma would break that): its cells are
/// slices of the record. Anything else is decoded cell by cell into `scratch`.
#[inline]
fn split_cells<'a>(
    bytes: &'a [u8],
    quoted: Option<&[Span]>,
    encoding: TextEncoding,
    scratch: &'a mut Scratch,
    cells: &mut Vec<&'a str>,
) -> Result<(), ReadError> {
    let utf8 = if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else if encoding == TextEncoding::Windows1252 {
        None
    } else {
        simdutf8::basic::from_utf8(bytes).ok()
    };
    let mut on_boundaries = true;
    match (utf8, quoted) {
        (Some(whole), None) => for_each_field(bytes, None, |a, b| {
            debug_assert!(whole.is_char_boundary(a) && whole.is_char_boundary(b));
            // SAFETY: `whole` is UTF-8 and `a..b` lies between its start or a comma and its
            // end or a comma (`for_each_field` on a plain line); a comma is a one-byte
            // character, so both ends are on character boundaries and `a <= b <= len`.
            cells.push(trim_cell(unsafe { whole.get_unchecked(a..b) }));
        }),
        // A quoted record's cells, unquoted back to back, need not be on boundaries.
        (Some(whole), Some(_)) => for_each_field(bytes, quoted, |a, b| match whole.get(a..b) {
            Some(cell) => cells.push(trim_cell(cell)),
            None => on_boundaries = false,
        }),
        (None, _) => {}
    }
    if utf8.is_some() && on_boundaries {
        return Ok(());
    }
    cells.clear();
    let Scratch {
        decoded,
        spans,
        raw_spans,
    } = scratch;
    decoded.clear();
    spans.clear();
    raw_spans.clear();
    for_each_field(bytes, quoted, |a, b| raw_spans.push((a, b)));
    for &(a, b) in raw_spans.iter() {
        let start = decoded.len();
        decoded.push_str(&decode(&bytes[a..b], encoding)?);
        spans.push((start, decoded.len()));
    }
    let decoded: &'a str = decoded;
    cells.extend(spans.iter().map(|&(a, b)| trim_cell(&decoded[a..b])));
    Ok(())
}

/// Hands the row to the visitor unless it is as wide as the header and no cell is too long;
/// each of those is a row error instead.
#[inline]
fn visit_checked<V: RowVisitor>(hdr: &Header, number: u64, cells: &[&str], visitor: &mut V) {
    let width = hdr.names.len();
    if cells.len() != width {
        visitor.row_error(Issue::new(
            number,
            None::<&'static str>,
            codes::ROW_WIDTH,
            format!(
                "This row has {} cells but the header has {width} columns; check for stray commas or missing cells",
                cells.len()
            ),
        ));
        return;
    }
    let mut too_long = false;
    for (i, cell) in cells.iter().enumerate() {
        if cell.len() > MAX_CELL_CHARS && cell.chars().count() > MAX_CELL_CHARS {
            too_long = true;
            visitor.row_error(Issue::new(
                number,
                Some(hdr.names[i].clone()),
                codes::CELL_TOO_LONG,
                format!(
                    "{} is longer than {MAX_CELL_CHARS} characters; shorten it",
                    hdr.names[i]
                ),
            ));
        }
    }
    if !too_long {
        visitor.row(&Row { number, cells });
    }
}

/// Where a field is in its record's bytes: start and end.
type Span = (usize, usize);

/// The bytes read but not yet used are at most this large to start with; the buffer grows to
/// hold the longest line met.
const BUFFER_BYTES: usize = 64 * 1024;

/// Splits a stream into CSV records with exactly the `csv` crate's semantics (comma, `"`
/// quotes with `""` inside, `\r`, `\n` or `\r\n` ending a record, blank lines skipped, a
/// leading UTF-8 byte-order mark dropped), counting the row breaks as it goes.
///
/// The usual record is one line without a `"`: it is split on commas where it sits in the
/// buffer. Any record with a `"` is handed, from its first byte, to `csv_core` (the state
/// machine underneath the `csv` crate), which unquotes it into a buffer of its own.
struct Records<R> {
    input: R,
    /// Bytes read from `input`; `buf[start..end]` are not used yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// The stream has ended.
    eof: bool,
    /// The stream began with a UTF-8 byte-order mark (dropped).
    had_bom: bool,
    /// The last byte used was a `\r`, so a `\n` right after it ends no further row.
    after_cr: bool,
    /// Row breaks (record ends and blank lines, never line breaks in quoted cells) so far.
    breaks: u64,
    /// Row breaks before the current record.
    record_breaks: u64,
    /// The current record: in `buf[line.0..line.1]`, or (`quoted`) in `out`.
    line: (usize, usize),
    quoted: bool,
    /// Where each field of the current quoted record is, within `out` (a plain line is split
    /// when its cells are taken: see [`for_each_field`]).
    fields: Vec<Span>,
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl<R: Read> Records<R> {
    fn new(input: R) -> Result<Self, ReadError> {
        let mut core = csv_core::Reader::new();
        // csv_core drops a byte-order mark at the start of the first input it sees; this reader
        // drops the stream's own, so mark csv_core as started (a blank line changes no state).
        let _ = core.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
        let mut records = Self {
            input,
            buf: vec![0; BUFFER_BYTES],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            had_bom: false,
            after_cr: false,
            breaks: 0,
            record_breaks: 0,
            line: (0, 0),
            quoted: false,
            fields: Vec::new(),
            core,
            out: vec![0; 1024],
            ends: vec![0; 64],
        };
        while records.end < 3 && !records.eof {
            records.fill()?;
        }
        if records.buf[..records.end].starts_with(b"\xEF\xBB\xBF") {
            records.start = 3;
            records.had_bom = true;
        }
        Ok(records)
    }

    /// Bytes of the stream used so far.
    fn position(&self) -> u64 {
        self.offset + self.start as u64
    }

    /// The current record's bytes and, when it was quoted, its fields' positions in them (a
    /// plain line's fields are what is between its commas: see [`for_each_field`]).
    fn record(&self) -> (&[u8], Option<&[Span]>) {
        if self.quoted {
            let len = self.fields.last().map_or(0, |&(_, end)| end);
            (&self.out[..len], Some(&self.fields))
        } else {
            (&self.buf[self.line.0..self.line.1], None)
        }
    }

    /// Moves the unused bytes to the front of the buffer (growing it when they fill it) and
    /// reads more after them. Returns how far the bytes moved.
    fn fill(&mut self) -> Result<usize, ReadError> {
        let moved = self.start;
        if moved > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= moved;
            self.start = 0;
            self.offset += moved as u64;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e.to_string())),
            }
        }
        Ok(moved)
    }

    /// Moves to the next record; false at the end of the stream.
    fn next_record(&mut self) -> Result<bool, ReadError> {
        // Blank lines: row breaks, but no record (a `\n` after a `\r` is the same line end).
        loop {
            if self.start == self.end {
                if self.eof {
                    return Ok(false);
                }
                self.fill()?;
                continue;
            }
            match self.buf[self.start] {
                b'\n' => {
                    self.breaks += u64::from(!self.after_cr);
                    self.after_cr = false;
                }
                b'\r' => {
                    self.breaks += 1;
                    self.after_cr = true;
                }
                _ => break,
            }
            self.start += 1;
        }
        self.after_cr = false;
        self.record_breaks = self.breaks;

        // The record ends at the first `\n` or `\r`, unless a `"` comes first.
        let mut searched = self.start;
        let stop = loop {
            if let Some(i) = memchr::memchr3(b'\n', b'\r', b'"', &self.buf[searched..self.end]) {
                break Some(searched + i);
            }
            if self.eof {
                break None;
            }
            searched = self.end;
            searched -= self.fill()?;
        };
        let (line_end, next) = match stop {
            Some(at) if self.buf[at] == b'"' => return self.quoted_record(),
            Some(at) => {
                self.breaks += 1;
                self.after_cr = self.buf[at] == b'\r';
                (at, at + 1)
            }
            None => (self.end, self.end),
        };
        self.quoted = false;
        self.line = (self.start, line_end);
        self.start = next;
        Ok(true)
    }

    /// Reads a record with a `"` in it through `csv_core`, from the record's first byte.
    fn quoted_record(&mut self) -> Result<bool, ReadError> {
        use csv_core::ReadRecordResult;
        let (mut nout, mut nends) = (0, 0);
        loop {
            let input = &self.buf[self.start..self.end];
            let at_end = input.is_empty();
            let (result, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nends..]);
            self.start += nin;
            nout += o;
            nends += e;
            match result {
                ReadRecordResult::InputEmpty => {
                    if !self.eof {
                        self.fill()?;
                    }
                }
                ReadRecordResult::OutputFull => {
                    let len = self.out.len();
                    self.out.resize(len * 2, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                ReadRecordResult::Record | ReadRecordResult::End => {
                    if !at_end {
                        // The last byte used is the record's `\n` or `\r`.
                        self.breaks += 1;
                        self.after_cr = self.buf[self.start - 1] == b'\r';
                    }
                    break;
                }
            }
        }
        self.quoted = true;
        self.fields.clear();
        let mut from = 0;
        for &to in &self.ends[..nends] {
            self.fields.push((from, to));
            from = to;
        }
        Ok(true)
    }
}

/// Calls `f` with the start and end of each field of a record: the given positions for a quoted
/// record, or those between the commas of a plain line.
fn for_each_field(bytes: &[u8], quoted: Option<&[Span]>, mut f: impl FnMut(usize, usize)) {
    if let Some(fields) = quoted {
        fields.iter().for_each(|&(a, b)| f(a, b));
        return;
    }
    // Thirty-two bytes at a time: a bit mask of where the commas are, in portable code the
    // compiler can turn into vector compares (it does on x86-64; no `unsafe`, no per-CPU path).
    let mut from = 0;
    let mut chunks = bytes.chunks_exact(32);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut commas = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            commas |= u32::from(b == b',') << i;
        }
        while commas != 0 {
            let at = base + commas.trailing_zeros() as usize;
            f(from, at);
            from = at + 1;
            commas &= commas - 1;
        }
        base += 32;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b',' {
            f(from, base + i);
            from = base + i + 1;
        }
    }
    f(from, bytes.len());
}

/// Empties a vector of borrowed cells and hands back its allocation with a new lifetime, so one
/// buffer serves every row (the in-place `collect` reuses the allocation).
fn recycle<'b>(mut cells: Vec<&'_ str>) -> Vec<&'b str> {
    cells.clear();
    cells.into_iter().map(|_| unreachable!()).collect()
}

/// Reads a whole file: a UTF-8 pass first, and, if the bytes turn out not to be UTF-8, a fresh
/// pass as Windows-1252 with a new visitor. `open` is called once per pass (streams are not
/// rewindable in general), `new_visitor` likewise.
pub fn read_csv<R, O, V, N>(mut open: O, mut new_visitor: N) -> Result<(PassSummary, V), ReadError>
where
    R: Read,
    O: FnMut() -> std::io::Result<R>,
    V: RowVisitor,
    N: FnMut() -> V,
{
    let mut visitor = new_visitor();
    let input = open().map_err(|e| ReadError::Io(e.to_string()))?;
    match read_pass(input, TextEncoding::Utf8, &mut visitor) {
        Ok(summary) => Ok((summary, visitor)),
        Err(ReadError::NotUtf8) => {
            let mut visitor = new_visitor();
            let input = open().map_err(|e| ReadError::Io(e.to_string()))?;
            let summary = read_pass(input, TextEncoding::Windows1252, &mut visitor)?;
            Ok((summary, visitor))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        rows: Vec<(u64, Vec<String>)>,
        errors: Vec<Issue>,
        required: Vec<&'static str>,
    }

    impl RowVisitor for Collect {
        fn header(&mut self, header: &Header) -> HeaderCheck {
            let mut check = HeaderCheck::default();
            for r in &self.required {
                if header.position(r).is_none() {
                    check.file_errors.push(FileIssue::new(
                        codes::MISSING_COLUMN,
                        format!("missing {r}"),
                    ));
                }
            }
            check
        }
        fn row(&mut self, row: &Row<'_>) {
            self.rows.push((
                row.number,
                row.cells.iter().map(|c| c.to_string()).collect(),
            ));
        }
        fn row_error(&mut self, issue: Issue) {
            self.errors.push(issue);
        }
    }

    fn read(bytes: &[u8]) -> (PassSummary, Collect) {
        read_csv(|| Ok(bytes), Collect::default).unwrap()
    }

    #[test]
    fn header_names_are_normalised() {
        assert_eq!(normalise_column(" child first-name "), "CHILD_FIRST_NAME");
    }

    #[test]
    fn rows_are_numbered_as_in_a_spreadsheet() {
        let (s, c) = read(b"A,B\n1,2\n\n , \n3,4\n");
        assert_eq!(s.rows, 2);
        assert_eq!(c.rows[0].0, 2);
        assert_eq!(c.rows[1].0, 5, "blank rows still count as spreadsheet rows");
    }

    #[test]
    fn crlf_line_ends_number_rows_like_lf() {
        let (_, c) = read(b"A,B\r\n1,2\r\n\r\n3,4\r\n");
        assert_eq!(c.rows[0].0, 2);
        assert_eq!(c.rows[1].0, 4);
    }

    #[test]
    fn a_quoted_newline_stays_in_one_row() {
        let (_, c) = read(b"A,B\n\"x\ny\",2\n3,4\n");
        assert_eq!(c.rows[0], (2, vec!["x\ny".to_string(), "2".to_string()]));
        assert_eq!(c.rows[1].0, 3);
    }

    #[test]
    fn an_instruction_row_is_skipped_and_counts_as_a_row() {
        let (s, c) = read(b"A,B\n\"Required: text\",x\n1,2\n");
        assert_eq!(s.rows, 1);
        assert_eq!(c.rows[0].0, 3);
        for cell in ["Optional", "required.", "REQUIRED, 6 digits", "Optional:"] {
            assert!(is_instruction_cell(cell), "{cell}");
        }
        for cell in ["Requiredness", "Opt", "Jennifer"] {
            assert!(!is_instruction_cell(cell), "{cell}");
        }
    }

    #[test]
    fn a_first_cell_with_a_character_across_its_eighth_byte_is_a_name_not_a_panic() {
        // Found by the property tests (tests/no_panic.rs): `Å` is bytes 7 and 8.
        assert!(!is_instruction_cell("Björn-Åke"));
        let (s, c) = read("A,B\nBjörn-Åke,x\n".as_bytes());
        assert_eq!(s.rows, 1);
        assert_eq!(c.rows[0].1[0], "Björn-Åke");
    }

    #[test]
    fn only_the_first_data_row_can_be_an_instruction_row() {
        let (s, _) = read(b"A,B\n1,2\nRequired,x\n");
        assert_eq!(s.rows, 2);
    }

    #[test]
    fn a_bom_is_removed_and_reported() {
        let (s, c) = read(b"\xEF\xBB\xBFA,B\n1,2\n");
        assert_eq!(s.encoding, TextEncoding::Utf8Bom);
        assert_eq!(c.rows.len(), 1);
    }

    /// A stream that hands over one byte per read, as a slow network might.
    struct OneByteAtATime<'a>(&'a [u8]);

    impl Read for OneByteAtATime<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn a_bom_split_across_reads_is_still_reported() {
        let bytes = b"\xEF\xBB\xBFA,B\nJos\xC3\xA9,2\n";
        let (s, c) = read_csv(|| Ok(OneByteAtATime(bytes)), Collect::default).unwrap();
        assert_eq!(s.encoding, TextEncoding::Utf8Bom);
        assert_eq!(c.rows[0].1, ["José", "2"]);
    }

    #[test]
    fn a_cell_split_inside_a_character_is_not_utf8() {
        // A lone lead byte before the comma: the record is not UTF-8 cell by cell.
        let (s, c) = read(b"A,B\n\xC3,\xA9\n");
        assert_eq!(s.encoding, TextEncoding::Windows1252);
        assert_eq!(c.rows[0].1, ["Ã", "©"]);
    }

    #[test]
    fn windows_1252_bytes_are_decoded_after_a_fresh_pass() {
        let (s, c) = read(b"A,B\nJalape\xf1o,P\xe9rez\n");
        assert_eq!(s.encoding, TextEncoding::Windows1252);
        assert_eq!(c.rows[0].1, ["Jalapeño", "Pérez"]);
    }

    #[test]
    fn semicolons_are_a_file_error() {
        let (s, c) = read(b"this;csv\nis,,,\n\"malformed\n");
        assert_eq!(s.file_errors[0].code, codes::NOT_COMMA_SEPARATED);
        assert!(c.rows.is_empty());
    }

    #[test]
    fn a_repeated_column_is_a_file_error() {
        let (s, _) = read(b"A,B,a\n1,2,3\n");
        assert_eq!(s.file_errors[0].code, codes::DUPLICATE_COLUMN);
    }

    #[test]
    fn a_header_alone_is_no_rows() {
        let (s, _) = read(b"A,B\n\n,\n");
        assert_eq!(s.file_errors[0].code, codes::NO_ROWS);
        let (s, _) = read(b"");
        assert_eq!(s.file_errors[0].code, codes::NO_ROWS);
    }

    #[test]
    fn wrong_widths_and_long_cells_are_row_errors() {
        let long = "x".repeat(301);
        let input = format!("A,B\n1\n1,2,3\n{long},2\n{},2\n", "é".repeat(300));
        let (s, c) = read(input.as_bytes());
        assert_eq!(s.rows, 4);
        let codes: Vec<_> = c.errors.iter().map(|e| (e.row, e.code)).collect();
        assert_eq!(
            codes,
            [
                (Some(2), codes::ROW_WIDTH),
                (Some(3), codes::ROW_WIDTH),
                (Some(4), codes::CELL_TOO_LONG)
            ]
        );
        assert_eq!(
            c.rows.len(),
            1,
            "300 accented characters are within the limit"
        );
    }

    /// Every record as the `csv` crate reads it (the semantics this reader keeps).
    fn csv_crate_records(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        reader
            .byte_records()
            .map(|r| r.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    fn our_records<R: Read>(input: R) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut records = Records::new(input).unwrap();
        let mut all = Vec::new();
        while records.next_record().unwrap() {
            let (bytes, quoted) = records.record();
            let mut fields = Vec::new();
            for_each_field(bytes, quoted, |a, b| fields.push(bytes[a..b].to_vec()));
            all.push((records.record_breaks, fields));
        }
        all
    }

    #[test]
    fn records_split_as_the_csv_crate_splits_them() {
        let inputs: [&[u8]; 16] = [
            b"a,b\n1,2\n",
            b"a,b\r\n1,2\r\n\r\n3,4",
            b"a,b\r1,2\r\r3,4\r",
            b"\n\n\r\na,b\n\n",
            b"a,\"b\nc\",d\n1,2,3\n",
            b"a,\"b\"\"c\",d\r\n\"x\r\ny\",2\r\n3,4\r\n",
            b"a\"b,c\n\"ab\"cd,e\n",
            b"\"unterminated,\nquote",
            b"x,\"\",\n,,\n",
            b"\xEF\xBB\xBFa,b\n1,2\n",
            b"\xEF\xBB\xBF\"a\",b\n1,2\n",
            b"a,b\n\xEF\xBB\xBFx,\"y\"\n",
            b"a,b\n1,\"2\"",
            b"a,b\n1,\"2\"\r",
            b" , \n,\n\"\"\n",
            b"",
        ];
        for input in inputs {
            let expected = csv_crate_records(input);
            let whole: Vec<_> = our_records(input).into_iter().map(|r| r.1).collect();
            assert_eq!(whole, expected, "{:?}", String::from_utf8_lossy(input));
            let slow: Vec<_> = our_records(OneByteAtATime(input))
                .into_iter()
                .map(|r| r.1)
                .collect();
            assert_eq!(slow, expected, "one byte at a time: {input:?}");
        }
    }

    #[test]
    fn plain_lines_split_at_every_comma() {
        for line in [
            &b""[..],
            b",",
            b"abc",
            b",,,,,,,,,,,,,,,,,",
            b"a,bb,ccc,dddd,eeeee,ffffff,ggggggg,hhhhhhhh,iiiiiiiii,",
            b"\xC3\xA9,\xFF\x2C\xAC,\x80,\xAC\xAC\xAC\xAC\xAC\xAC\xAC\xAC,x",
        ] {
            let mut ours = Vec::new();
            for_each_field(line, None, |a, b| ours.push(&line[a..b]));
            let expected: Vec<&[u8]> = line.split(|&b| b == b',').collect();
            assert_eq!(ours, expected, "{line:?}");
        }
    }

    #[test]
    fn row_breaks_skip_line_ends_inside_quotes() {
        let input = b"h1,h2\r\n\"a\r\nb\",\"c\nd\"\r\n1,2\r\n\r\n\"x\"\r3,4\n";
        let breaks: Vec<u64> = our_records(&input[..]).iter().map(|r| r.0).collect();
        assert_eq!(breaks, [0, 1, 2, 4, 5]);
    }

    #[test]
    fn a_quoted_newline_then_plain_rows_keep_spreadsheet_numbers() {
        let (s, c) = read(b"A,B\r\n1,\"two\r\nlines\"\r\n3,4\r\n\r\n5,\"x\ny\nz\"\n7,8\n9,10");
        assert_eq!(s.rows, 5);
        let numbers: Vec<u64> = c.rows.iter().map(|r| r.0).collect();
        assert_eq!(numbers, [2, 3, 5, 6, 7]);
        assert_eq!(c.rows[0].1, ["1", "two\r\nlines"]);
        assert_eq!(c.rows[2].1, ["5", "x\ny\nz"]);
        assert_eq!(c.rows[4].1, ["9", "10"]);
    }

    #[test]
    fn lone_carriage_returns_end_rows() {
        let (s, c) = read(b"A,B\r1,2\r\r3,4\r");
        assert_eq!(s.rows, 2);
        assert_eq!(c.rows[0], (2, vec!["1".to_string(), "2".to_string()]));
        assert_eq!(c.rows[1], (4, vec!["3".to_string(), "4".to_string()]));
    }

    #[test]
    fn quotes_mid_file_are_unquoted_and_a_stray_quote_is_kept() {
        let (_, c) = read(b"A,B\n1,2\n\"say \"\"hi\"\"\",x\n5\"6,\"7\"8\n9,10\n");
        assert_eq!(
            c.rows[1],
            (3, vec!["say \"hi\"".to_string(), "x".to_string()])
        );
        assert_eq!(c.rows[2], (4, vec!["5\"6".to_string(), "78".to_string()]));
        assert_eq!(c.rows[3].0, 5);
    }

    #[test]
    fn a_bom_with_crlf_and_quotes_is_reported_and_dropped() {
        let (s, c) = read(b"\xEF\xBB\xBF\"A\",B\r\n\"1\",2\r\n");
        assert_eq!(s.encoding, TextEncoding::Utf8Bom);
        assert_eq!(c.rows, [(2, vec!["1".to_string(), "2".to_string()])]);
    }

    #[test]
    fn records_longer_than_the_buffer_are_read_whole() {
        // A plain line and a quoted one, each longer than the initial buffer, with many cells.
        let cells = 5000;
        let header: Vec<String> = (0..cells).map(|i| format!("C{i}")).collect();
        let plain: Vec<String> = (0..cells).map(|i| format!("value number {i:05}")).collect();
        let quoted: Vec<String> = (0..cells).map(|i| format!("\"q,{i:05}\"\"\"")).collect();
        let input = format!(
            "{}\n{}\n{}\r\n{}\n",
            header.join(","),
            plain.join(","),
            quoted.join(","),
            plain.join(",")
        );
        assert!(plain.join(",").len() > BUFFER_BYTES);
        for (_, c) in [
            read(input.as_bytes()),
            read_csv(|| Ok(OneByteAtATime(input.as_bytes())), Collect::default).unwrap(),
        ] {
            assert_eq!(c.rows.len(), 3);
            assert_eq!(c.rows[0].0, 2);
            assert_eq!(c.rows[0].1[2999], "value number 02999");
            assert_eq!(c.rows[1].0, 3);
            assert_eq!(c.rows[1].1[7], "q,00007\"");
            assert_eq!(c.rows[2].0, 4);
            assert_eq!(c.rows[2].1, c.rows[0].1);
        }
        let long = "x".repeat(BUFFER_BYTES * 2);
        let (s, c) = read(format!("A\n{long}\nshort\n").as_bytes());
        assert_eq!(s.rows, 2);
        assert_eq!(c.errors[0].row, Some(2));
        assert_eq!(c.errors[0].code, codes::CELL_TOO_LONG);
        assert_eq!(c.rows, [(3, vec!["short".to_string()])]);
    }

    #[test]
    fn windows_1252_found_late_reads_the_file_again() {
        let mut input = b"A,B\n".to_vec();
        for i in 0..20_000 {
            input.extend_from_slice(format!("{i},José\n").as_bytes());
        }
        // One Windows-1252 byte far past the first buffer: the whole file is Windows-1252.
        input.extend_from_slice(b"last,P\xe9rez\n");
        let (s, c) = read(&input);
        assert_eq!(s.encoding, TextEncoding::Windows1252);
        assert_eq!(s.rows, 20_001);
        assert_eq!(c.rows[0].1, ["0", "JosÃ©"]);
        assert_eq!(
            c.rows[20_000],
            (20_002, vec!["last".to_string(), "Pérez".to_string()])
        );
        assert_eq!(s.bytes, input.len() as u64);
    }

    #[test]
    fn a_quoted_cell_split_inside_a_character_is_not_utf8() {
        let (s, c) = read(b"A,B\n\"\xC3\",\"\xA9\"\n");
        assert_eq!(s.encoding, TextEncoding::Windows1252);
        assert_eq!(c.rows[0].1, ["Ã", "©"]);
    }

    #[test]
    fn missing_columns_come_from_the_schema() {
        let mut visitor = Collect {
            required: vec!["C"],
            ..Default::default()
        };
        let s = read_pass(&b"A,B\n1,2\n"[..], TextEncoding::Utf8, &mut visitor).unwrap();
        assert_eq!(s.file_errors[0].code, codes::MISSING_COLUMN);
    }
}
