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
fn trim_cell(s: &str) -> &str {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&f), Some(&l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => s,
        (None, _) => s,
        _ => s.trim(),
    }
}

/// Whether a record's bytes are UTF-8 with every field on character boundaries, so each field
/// can be read as `str` without checking it again.
fn is_utf8_record(record: &csv::ByteRecord) -> bool {
    let bytes = record.as_slice();
    if bytes.is_ascii() {
        return true;
    }
    std::str::from_utf8(bytes).is_ok_and(|whole| {
        let mut at = 0;
        record.iter().all(|field| {
            let start = at;
            at += field.len();
            whole.is_char_boundary(start)
        })
    })
}

/// Reads one CSV stream with the given encoding, feeding the header and rows to `visitor`.
///
/// Returns [`ReadError::NotUtf8`] as soon as a UTF-8 pass meets bytes that are not UTF-8; the
/// caller then reads the file again from the start as Windows-1252 (see [`read_csv`]).
pub fn read_pass<R: Read, V: RowVisitor>(
    input: R,
    encoding: TextEncoding,
    visitor: &mut V,
) -> Result<PassSummary, ReadError> {
    // The csv crate drops a UTF-8 byte-order mark silently; the line counter sees the first bytes
    // go past, so the report can say so. The csv reader's own buffer is the only copy made.
    let lines = LineIndex::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(LineCounter {
            inner: input,
            offset: 0,
            lines: lines.clone(),
        });
    let mut encoding = encoding;
    let mut record = csv::ByteRecord::new();
    let mut summary = PassSummary {
        encoding,
        rows: 0,
        file_errors: Vec::new(),
        header_warnings: Vec::new(),
        bytes: 0,
    };
    let mut header: Option<(Header, u64)> = None;
    // Newlines inside quoted cells, which move the physical line but not the spreadsheet row.
    let mut embedded_newlines: u64 = 0;
    let mut first_data_row = true;
    let mut spare_cells: Vec<&'static str> = Vec::new();
    // Rows that are not plain UTF-8: their decoded cells, back to back, and where each is.
    let mut decoded = String::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();

    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                if let csv::ErrorKind::Io(io) = e.kind() {
                    return Err(ReadError::Io(io.to_string()));
                }
                // Only I/O errors are possible with `flexible(true)`; anything else is unreadable.
                return Err(ReadError::Io(e.to_string()));
            }
        }
        let newlines_here = memchr_count(b'\n', record.as_slice());
        // The reader stops one byte past the record's terminator (or at the end of input), so
        // the byte before that is on the record's last line; its first line is that minus the
        // newlines inside its quoted cells. (The csv crate's own line count misses CRLF.)
        let last_line = lines.line_at(reader.position().byte().saturating_sub(1));
        let line = last_line - newlines_here;

        let Some((ref hdr, header_line)) = header else {
            if encoding != TextEncoding::Windows1252 && lines.starts_with_bom() {
                encoding = TextEncoding::Utf8Bom;
            }
            if record.iter().all(|f| f.trim_ascii().is_empty()) {
                continue;
            }
            let mut names = Vec::with_capacity(record.len());
            for (i, field) in record.iter().enumerate() {
                let field = if i == 0 {
                    match field.strip_prefix(b"\xEF\xBB\xBF") {
                        Some(rest) => {
                            encoding = TextEncoding::Utf8Bom;
                            rest
                        }
                        None => field,
                    }
                } else {
                    field
                };
                names.push(normalise_column(&decode(field, encoding)?));
            }
            summary.encoding = encoding;
            if names.len() == 1 && names[0].contains(';') {
                summary.file_errors.push(FileIssue::new(
                    codes::NOT_COMMA_SEPARATED,
                    "The file uses semicolons between columns; save it as CSV with commas (in Excel: \"CSV UTF-8 (Comma delimited)\")",
                ));
                return Ok(finish(summary, &reader));
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
            if !summary.file_errors.is_empty() {
                return Ok(finish(summary, &reader));
            }
            embedded_newlines = newlines_here;
            header = Some((built, line));
            continue;
        };

        let number = line - header_line + 1 - embedded_newlines;
        embedded_newlines += newlines_here;

        let mut cells = recycle(std::mem::take(&mut spare_cells));
        // The usual row is plain ASCII, or UTF-8 whose fields start and end on character
        // boundaries (a lone lead byte before a comma would break that): its cells are slices of
        // the record. Anything else is decoded cell by cell into one buffer.
        if encoding != TextEncoding::Windows1252 && is_utf8_record(&record) {
            for field in record.iter() {
                // SAFETY: `is_utf8_record` checked the record is UTF-8 and every field starts
                // and ends on a character boundary.
                cells.push(trim_cell(unsafe { std::str::from_utf8_unchecked(field) }));
            }
        } else {
            decoded.clear();
            spans.clear();
            for field in record.iter() {
                let start = decoded.len();
                decoded.push_str(&decode(field, encoding)?);
                spans.push((start, decoded.len()));
            }
            cells.extend(spans.iter().map(|&(a, b)| trim_cell(&decoded[a..b])));
        }
        let blank = cells.iter().all(|c| c.is_empty());
        if blank {
            spare_cells = recycle(cells);
            continue;
        }
        if first_data_row {
            first_data_row = false;
            if is_instruction_cell(cells[0]) {
                spare_cells = recycle(cells);
                continue;
            }
        }
        summary.rows += 1;

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
            continue;
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
        if too_long {
            continue;
        }
        let row = Row {
            number,
            cells: &cells,
        };
        visitor.row(&row);
        spare_cells = recycle(cells);
    }

    if header.is_none() || summary.rows == 0 {
        summary.file_errors.push(FileIssue::new(
            codes::NO_ROWS,
            "The file has no data rows; add at least one child below the header",
        ));
    }
    Ok(finish(summary, &reader))
}

fn finish<R: Read>(mut summary: PassSummary, reader: &csv::Reader<R>) -> PassSummary {
    summary.bytes = reader.position().byte();
    summary
}

/// Where the newlines are, so a record's starting byte gives its physical line. (The csv
/// crate's own line count does not advance on CRLF line ends, which Excel writes.)
#[derive(Debug, Clone, Default)]
struct LineIndex(std::rc::Rc<std::cell::RefCell<LineState>>);

#[derive(Debug, Default)]
struct LineState {
    /// Offsets of newlines read but not yet passed by a record.
    pending: std::collections::VecDeque<u64>,
    /// Newlines before the last record asked about.
    passed: u64,
    /// The stream's first three bytes (fewer while fewer have been read).
    head: Vec<u8>,
}

impl LineIndex {
    /// The 1-based line on which the byte at `offset` sits (newlines strictly before it, plus
    /// one). Offsets asked about only move forward.
    fn line_at(&self, offset: u64) -> u64 {
        let mut state = self.0.borrow_mut();
        while state.pending.front().is_some_and(|&nl| nl < offset) {
            state.pending.pop_front();
            state.passed += 1;
        }
        state.passed + 1
    }

    /// Whether the stream began with a UTF-8 byte-order mark.
    fn starts_with_bom(&self) -> bool {
        self.0.borrow().head == b"\xEF\xBB\xBF"
    }
}

/// Notes the offset of every newline as the bytes stream past.
struct LineCounter<R> {
    inner: R,
    offset: u64,
    lines: LineIndex,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.lines.0.borrow_mut();
        if state.head.len() < 3 {
            let want = (3 - state.head.len()).min(n);
            state.head.extend_from_slice(&buf[..want]);
        }
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            state.pending.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Empties a vector of borrowed cells and hands back its allocation with a new lifetime, so one
/// buffer serves every row (the in-place `collect` reuses the allocation).
fn recycle<'b>(mut cells: Vec<&'_ str>) -> Vec<&'b str> {
    cells.clear();
    cells.into_iter().map(|_| unreachable!()).collect()
}

fn memchr_count(needle: u8, haystack: &[u8]) -> u64 {
    memchr::memchr_iter(needle, haystack).count() as u64
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
