//! How Notify counts a text message (notify.md, "Text length and cost"): GSM-7 after Notify's
//! downgrading, or Unicode when a character cannot be downgraded; fragments are what is billed.

/// Characters of the extension table: each counts as two.
const GSM7_EXTENDED: &str = "^{}\\[~]|€";

/// Letters Notify keeps (they have no GSM-7 form it will downgrade to), so a message holding
/// one is sent as Unicode: the Welsh vowels with circumflex, grave and diaeresis among them.
const KEPT_AS_UNICODE: &str = "ŴŵŶŷÂâÊêÎîÔôÛûẀẁẂẃẄẅỲỳÝýŸÿÏïËëÁáÍíÓóÚú";

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
    /// The encoding after Notify's downgrading.
    pub encoding: SmsEncoding,
    /// Characters as counted for that encoding (extension characters twice in GSM-7).
    pub characters: u32,
    /// Fragments billed.
    pub fragments: u32,
}

/// What Notify turns a character into before counting (`None`: removed).
fn downgrade(c: char) -> Option<char> {
    match c {
        // Zero-width characters are removed.
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => None,
        '\u{00A0}' | '\t' => Some(' '),
        '‘' | '’' | '‚' | '′' => Some('\''),
        '“' | '”' | '„' | '″' => Some('"'),
        '–' | '—' | '‐' | '‑' | '−' => Some('-'),
        'à'..='å' | 'ā' | 'ă' | 'ą' => Some('a'),
        'ç' | 'ć' | 'č' => Some('c'),
        'è'..='ë' | 'ē' | 'ę' | 'ě' => Some('e'),
        'ì'..='ï' | 'ī' => Some('i'),
        'ñ' | 'ń' | 'ň' => Some('n'),
        'ò'..='ö' | 'ø' | 'ō' | 'ő' => Some('o'),
        'ù'..='ü' | 'ū' | 'ů' | 'ű' => Some('u'),
        'ý' | 'ÿ' => Some('y'),
        'À'..='Å' | 'Ā' | 'Ă' | 'Ą' => Some('A'),
        'Ç' | 'Ć' | 'Č' => Some('C'),
        'È'..='Ë' | 'Ē' | 'Ę' | 'Ě' => Some('E'),
        'Ì'..='Ï' | 'Ī' => Some('I'),
        'Ñ' | 'Ń' | 'Ň' => Some('N'),
        'Ò'..='Ö' | 'Ø' | 'Ō' | 'Ő' => Some('O'),
        'Ù'..='Ü' | 'Ū' | 'Ů' | 'Ű' => Some('U'),
        'ł' => Some('l'),
        'Ł' => Some('L'),
        'ś' | 'š' => Some('s'),
        'Ś' | 'Š' => Some('S'),
        'ź' | 'ż' | 'ž' => Some('z'),
        'Ź' | 'Ż' | 'Ž' => Some('Z'),
        c => Some(c),
    }
}

/// The length of `body` as Notify counts it.
pub fn sms_length(body: &str) -> SmsLength {
    if body.chars().any(|c| KEPT_AS_UNICODE.contains(c)) {
        let characters = body.chars().filter_map(downgrade_unicode).count() as u32;
        return SmsLength {
            encoding: SmsEncoding::Unicode,
            characters,
            fragments: fragments(characters, 70, 67),
        };
    }
    let mut characters = 0u32;
    for c in body.chars() {
        let Some(c) = downgrade(c) else { continue };
        characters += if GSM7_EXTENDED.contains(c) {
            2
        } else {
            // Anything with no GSM-7 form (emoji, CJK) becomes `?`, one character.
            1
        };
    }
    SmsLength {
        encoding: SmsEncoding::Gsm7,
        characters,
        fragments: fragments(characters, 160, 153),
    }
}

/// In a Unicode message only the invisible characters go; everything else is one character.
fn downgrade_unicode(c: char) -> Option<char> {
    match c {
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => None,
        c => Some(c),
    }
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

    #[test]
    fn gsm_fragment_boundaries_are_160_and_153() {
        assert_eq!(frags(&"a".repeat(160)), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(frags(&"a".repeat(161)), (SmsEncoding::Gsm7, 161, 2));
        assert_eq!(frags(&"a".repeat(306)), (SmsEncoding::Gsm7, 306, 2));
        assert_eq!(frags(&"a".repeat(307)), (SmsEncoding::Gsm7, 307, 3));
    }

    #[test]
    fn extension_characters_count_twice() {
        assert_eq!(
            frags(&format!("{}€", "a".repeat(158))),
            (SmsEncoding::Gsm7, 160, 1)
        );
        assert_eq!(
            frags(&format!("{}[", "a".repeat(159))),
            (SmsEncoding::Gsm7, 161, 2)
        );
    }

    #[test]
    fn welsh_vowels_make_a_unicode_message_with_boundaries_70_and_67() {
        let body = |n: usize| format!("ŵ{}", "a".repeat(n - 1));
        assert_eq!(frags(&body(70)), (SmsEncoding::Unicode, 70, 1));
        assert_eq!(frags(&body(71)), (SmsEncoding::Unicode, 71, 2));
        assert_eq!(frags(&body(134)), (SmsEncoding::Unicode, 134, 2));
        assert_eq!(frags(&body(135)), (SmsEncoding::Unicode, 135, 3));
    }

    #[test]
    fn accents_dashes_and_curly_quotes_are_downgraded_not_unicode() {
        assert_eq!(frags("Chloé’s jab – Łukasz"), (SmsEncoding::Gsm7, 20, 1));
        assert_eq!(frags("a\u{200B}b"), (SmsEncoding::Gsm7, 2, 1));
        assert_eq!(frags("🙂"), (SmsEncoding::Gsm7, 1, 1), "emoji become ?");
    }
}
