//! How Notify counts a text message (notify.md, "Text length and cost"). Notify bills what its
//! template code counts (`billable_units = template.fragment_count`); this follows alphagov's
//! notifications-utils step by step:
//!
//! 1. Whitespace is normalised (`BaseSMSTemplate._get_unsanitised_content`, formatters.py):
//!    spaces and tabs before `,` or `.` go; each line loses its zero-width characters, has its
//!    no-break spaces made spaces, its runs of whitespace made one space and its ends trimmed;
//!    more than two newlines in a row become two; the whole text is trimmed.
//! 2. [`REPLACEMENTS`] is applied (`SanitiseSMS.encode`): a character becomes none, one or
//!    several (`…` is sent as `...`, three characters).
//! 3. The text is GSM-7 when every character is in the GSM 03.38 basic or extension table, and
//!    Unicode otherwise (`SanitiseSMS.get_non_gsm_characters`). Notify no longer downgrades
//!    accented letters or turns other characters into `?`: `Ł`, `ç`, `ŵ` or an emoji is sent as
//!    it is, and the whole message goes as Unicode.
//! 4. Characters are counted, an extension character twice in either encoding
//!    (`count_extended_gsm_chars`), and billed as fragments (`get_sms_fragment_count`).
//!
//! One deliberate difference: Notify's own `content_count` is taken before step 2, where the
//! table changes a length only for `…`. It is counted here as the three characters Notify sends.

/// The GSM 03.38 basic table (`SanitiseSMS.GSM_CHARACTERS` less the extension table).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1B}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table (`SanitiseSMS.EXTENDED_GSM_CHARACTERS`): each counts as two.
const GSM7_EXTENDED: &str = "^{}\\[~]|€";

/// What Notify puts in place of a character before sending a text message (an empty
/// replacement removes it), applied whether the message goes as GSM-7 or Unicode: exactly
/// `SanitiseText.REPLACEMENT_CHARACTERS` in alphagov/notifications-utils,
/// `notifications_utils/sanitise_text.py` at commit 0eaf4e4da5af3d7d9b579024561cc64e3451ae59,
/// in its order.
pub const REPLACEMENTS: &[(char, &str)] = &[
    ('\u{2011}', "-"),   // non-breaking hyphen
    ('\u{2013}', "-"),   // en dash
    ('\u{2014}', "-"),   // em dash
    ('\u{2212}', "-"),   // minus sign
    ('\u{2026}', "..."), // horizontal ellipsis
    ('\u{2018}', "'"),   // left single quotation mark
    ('\u{2019}', "'"),   // right single quotation mark
    ('\u{201C}', "\""),  // left double quotation mark
    ('\u{201D}', "\""),  // right double quotation mark
    ('\u{201A}', "'"),   // single low-9 quotation mark
    ('\u{201E}', "\""),  // double low-9 quotation mark
    ('\u{180E}', ""),    // Mongolian vowel separator
    ('\u{200B}', ""),    // zero width space
    ('\u{200C}', ""),    // zero width non-joiner
    ('\u{2060}', ""),    // word joiner
    ('\u{FEFF}', ""),    // zero width no-break space
    ('\u{2028}', ""),    // line separator
    ('\u{2029}', ""),    // paragraph separator
    ('\u{00A0}', " "),   // no-break space
    ('\u{202F}', " "),   // narrow no-break space
    ('\t', " "),         // tab
];

/// Removed from every line before the table is applied (formatters.py,
/// `OBSCURE_ZERO_WIDTH_WHITESPACE`): the zero width joiner is not in the table but goes here.
const ZERO_WIDTH: &str = "\u{180E}\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}\u{2028}\u{2029}";

/// Made plain spaces on every line (formatters.py, `OBSCURE_FULL_WIDTH_WHITESPACE`).
const NO_BREAK_SPACES: &str = "\u{00A0}\u{202F}";

/// How a text is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    /// GSM-7: 160 characters in one fragment, 153 a fragment after that.
    Gsm7,
    /// Unicode (UCS-2): 70 characters in one fragment, 67 a fragment after that.
    Unicode,
}

/// A text's length as Notify bills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SmsLength {
    /// The encoding of the text as Notify sends it.
    pub encoding: SmsEncoding,
    /// Characters as counted (extension characters twice).
    pub characters: u32,
    /// Fragments billed.
    pub fragments: u32,
}

/// The length of `body` as Notify counts it.
pub fn sms_length(body: &str) -> SmsLength {
    let sent = as_sent(body);
    let gsm7 = sent
        .chars()
        .all(|c| GSM7_BASIC.contains(c) || GSM7_EXTENDED.contains(c));
    let characters = sent
        .chars()
        .map(|c| if GSM7_EXTENDED.contains(c) { 2 } else { 1 })
        .sum();
    let (encoding, fragments) = if gsm7 {
        (SmsEncoding::Gsm7, fragments(characters, 160, 153))
    } else {
        (SmsEncoding::Unicode, fragments(characters, 70, 67))
    };
    SmsLength {
        encoding,
        characters,
        fragments,
    }
}

/// The text Notify sends for `body`: its whitespace normalised, then [`REPLACEMENTS`] applied.
fn as_sent(body: &str) -> String {
    let mut sent = String::with_capacity(body.len());
    for c in normalise_whitespace(body).chars() {
        match REPLACEMENTS.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => sent.push_str(to),
            None => sent.push(c),
        }
    }
    sent
}

/// Notify's whitespace normalisation of a text message, in its order:
/// `remove_whitespace_before_punctuation`, `normalise_whitespace_and_newlines`,
/// `normalise_multiple_newlines`, `str.strip`.
fn normalise_whitespace(body: &str) -> String {
    let body = remove_whitespace_before_punctuation(body);
    let lines: Vec<String> = python_lines(&body)
        .into_iter()
        .map(normalise_line)
        .collect();
    collapse_newlines(&lines.join("\n"))
        .trim_matches(is_python_space)
        .to_owned()
}

/// Python's `re.sub(r"[ \t]+([,\.])", r"\1", s)`.
fn remove_whitespace_before_punctuation(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut spaces = String::new();
    for c in s.chars() {
        if c == ' ' || c == '\t' {
            spaces.push(c);
            continue;
        }
        if c != ',' && c != '.' {
            out.push_str(&spaces);
        }
        spaces.clear();
        out.push(c);
    }
    out.push_str(&spaces);
    out
}

/// Python's `str.splitlines()`: `\r\n` is one break, and a break at the end opens no line.
fn python_lines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !matches!(
            c,
            '\n' | '\r'
                | '\u{0B}'
                | '\u{0C}'
                | '\u{1C}'
                | '\u{1D}'
                | '\u{1E}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        ) {
            continue;
        }
        lines.push(&s[start..i]);
        start = i + c.len_utf8();
        if c == '\r' && chars.next_if(|&(_, next)| next == '\n').is_some() {
            start += 1;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// formatters.py `normalise_whitespace`: no-break spaces made spaces, zero-width characters
/// removed, then `" ".join(line.split())`.
fn normalise_line(line: &str) -> String {
    let line: String = line
        .chars()
        .filter(|&c| !ZERO_WIDTH.contains(c))
        .map(|c| if NO_BREAK_SPACES.contains(c) { ' ' } else { c })
        .collect();
    line.split(is_python_space)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `re.sub(r"\n{3,}", "\n\n", s)`.
fn collapse_newlines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut newlines = 0;
    for c in s.chars() {
        newlines = if c == '\n' { newlines + 1 } else { 0 };
        if newlines <= 2 {
            out.push(c);
        }
    }
    out
}

/// Python's `str.isspace()`: Unicode whitespace and the four separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

fn fragments(characters: u32, single: u32, each: u32) -> u32 {
    if characters <= single {
        1
    } else {
        characters.div_ceil(each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frags(body: &str) -> (SmsEncoding, u32, u32) {
        let l = sms_length(body);
        (l.encoding, l.characters, l.fragments)
    }

    fn a(n: usize) -> String {
        "a".repeat(n)
    }

    /// The characters a table entry is sent as. The line and paragraph separators never reach
    /// the table: Notify's whitespace normaliser splits lines at them first, so each is sent,
    /// and counted, as a newline.
    fn sent_len(c: char, replacement: &str) -> usize {
        if matches!(c, '\u{2028}' | '\u{2029}') {
            1
        } else {
            replacement.chars().count()
        }
    }

    #[test]
    fn gsm_fragment_boundaries_are_160_and_153() {
        assert_eq!(frags(&a(160)), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(frags(&a(161)), (SmsEncoding::Gsm7, 161, 2));
        assert_eq!(frags(&a(306)), (SmsEncoding::Gsm7, 306, 2));
        assert_eq!(frags(&a(307)), (SmsEncoding::Gsm7, 307, 3));
    }

    #[test]
    fn extension_characters_count_twice() {
        assert_eq!(frags(&format!("{}€", a(158))), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(frags(&format!("{}[", a(159))), (SmsEncoding::Gsm7, 161, 2));
    }

    #[test]
    fn extension_characters_count_twice_in_a_unicode_message_too() {
        // Notify adds `count_extended_gsm_chars` whatever the encoding.
        assert_eq!(
            frags(&format!("ŵ{{{}", a(67))),
            (SmsEncoding::Unicode, 70, 1)
        );
        assert_eq!(
            frags(&format!("ŵ}}{}", a(68))),
            (SmsEncoding::Unicode, 71, 2)
        );
    }

    #[test]
    fn welsh_vowels_make_a_unicode_message_with_boundaries_70_and_67() {
        let body = |n: usize| format!("ŵ{}", a(n - 1));
        assert_eq!(frags(&body(70)), (SmsEncoding::Unicode, 70, 1));
        assert_eq!(frags(&body(71)), (SmsEncoding::Unicode, 71, 2));
        assert_eq!(frags(&body(134)), (SmsEncoding::Unicode, 134, 2));
        assert_eq!(frags(&body(135)), (SmsEncoding::Unicode, 135, 3));
    }

    #[test]
    fn the_ellipsis_is_sent_as_three_dots() {
        // The issue's case: 158 GSM characters and `…` are 161 characters, two fragments.
        assert_eq!(frags(&format!("{}…", a(158))), (SmsEncoding::Gsm7, 161, 2));
        assert_eq!(frags(&format!("{}…", a(157))), (SmsEncoding::Gsm7, 160, 1));
    }

    #[test]
    fn every_table_entry_at_the_160_161_boundary() {
        for &(c, replacement) in REPLACEMENTS {
            let len = sent_len(c, replacement);
            // Between letters, so that whitespace is neither trimmed nor merged.
            let body = |extra: usize| format!("a{c}{}", a(160 - len - 1 + extra));
            assert_eq!(
                frags(&body(0)),
                (SmsEncoding::Gsm7, 160, 1),
                "{c:?} as {replacement:?}"
            );
            assert_eq!(
                frags(&body(1)),
                (SmsEncoding::Gsm7, 161, 2),
                "{c:?} as {replacement:?}"
            );
        }
    }

    #[test]
    fn every_table_entry_at_the_70_71_boundary_in_a_unicode_message() {
        for &(c, replacement) in REPLACEMENTS {
            let len = sent_len(c, replacement);
            let body = |extra: usize| format!("ŵ{c}{}", a(70 - len - 1 + extra));
            assert_eq!(
                frags(&body(0)),
                (SmsEncoding::Unicode, 70, 1),
                "{c:?} as {replacement:?}"
            );
            assert_eq!(
                frags(&body(1)),
                (SmsEncoding::Unicode, 71, 2),
                "{c:?} as {replacement:?}"
            );
        }
    }

    #[test]
    fn removed_characters_add_nothing_and_keep_the_message_gsm() {
        let removed: String = REPLACEMENTS
            .iter()
            .filter(|(c, to)| to.is_empty() && !matches!(c, '\u{2028}' | '\u{2029}'))
            .map(|(c, _)| *c)
            .chain(['\u{200D}']) // the zero width joiner goes with the whitespace
            .collect();
        assert_eq!(removed.chars().count(), 6);
        let body = format!("{}{removed}{}", a(80), a(80));
        assert_eq!(frags(&body), (SmsEncoding::Gsm7, 160, 1));
        let body = format!("{}{removed}{}", a(80), a(81));
        assert_eq!(frags(&body), (SmsEncoding::Gsm7, 161, 2));
        assert_eq!(frags("a\u{200B}b"), (SmsEncoding::Gsm7, 2, 1));
    }

    #[test]
    fn dashes_and_curly_quotes_are_replaced_and_the_message_stays_gsm() {
        assert_eq!(frags("Chloé’s jab – “Lukasz”"), (SmsEncoding::Gsm7, 22, 1));
    }

    #[test]
    fn characters_outside_gsm_are_sent_as_they_are_in_unicode() {
        // Not downgraded to a base letter or `?` (sanitise_text.py keeps them).
        assert_eq!(frags("Łukasz"), (SmsEncoding::Unicode, 6, 1));
        assert_eq!(frags("François"), (SmsEncoding::Unicode, 8, 1));
        assert_eq!(frags("🙂"), (SmsEncoding::Unicode, 1, 1));
        assert_eq!(frags("Èmyr"), (SmsEncoding::Unicode, 4, 1));
        assert_eq!(frags("`"), (SmsEncoding::Unicode, 1, 1));
        // A few letters with accents are in GSM-7 itself.
        assert_eq!(frags("Zoé à Müller"), (SmsEncoding::Gsm7, 12, 1));
    }

    #[test]
    fn whitespace_is_normalised_as_notify_does_before_counting() {
        assert_eq!(frags("  a \t b  "), (SmsEncoding::Gsm7, 3, 1));
        assert_eq!(frags("a , b ."), (SmsEncoding::Gsm7, 5, 1));
        assert_eq!(frags("a\u{00A0}\u{00A0}b"), (SmsEncoding::Gsm7, 3, 1));
        assert_eq!(frags("a  \n\n\n\n  b\r\nc"), (SmsEncoding::Gsm7, 6, 1));
        assert_eq!(frags("a\u{2028}b"), (SmsEncoding::Gsm7, 3, 1));
        assert_eq!(frags(&format!("{}\n", a(160))), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(frags(""), (SmsEncoding::Gsm7, 0, 1));
    }
}
