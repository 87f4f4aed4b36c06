//! Realistic synthetic cohort files for demos, tests and benchmarks (`sais generate cohort`).
//!
//! Deterministic for a seed. Every row is a different child: NHS numbers are taken in order from
//! the 999 test range (about 909,000 valid numbers), and every postcode is unique, so rows
//! without an NHS number are distinct too. Only synthetic people: `example.com` addresses and
//! Ofcom's drama-range mobile numbers.

use std::io::{self, Write};

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Freya", "Lily", "Zoë", "Aisha", "Siân", "Maya",
    "Noah", "Oliver", "George", "Leo", "Arthur", "Muhammad", "Oscar", "Jack", "José", "Łukasz",
    "Rhys", "Ibrahim", "Chloé", "Renée", "Dylan", "Niamh", "Seán", "Aoife", "Kai",
];
const LAST: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Khan",
    "O'Neill",
    "Jalapeño-Pérez",
    "Müller",
    "Nowak",
    "Ahmed",
    "Clarke",
    "Lewis",
    "Hughes",
    "Edwards",
    "D'Souza",
    "Øvergård",
];
const PARENT_FIRST: &[&str] = &[
    "Sarah",
    "Emma",
    "Laura",
    "Rachel",
    "Fatima",
    "Joanne",
    "Claire",
    "Agnieszka",
    "Priya",
    "David",
    "James",
    "Mark",
    "Daniel",
    "Paul",
    "Mohammed",
    "Andrew",
    "Tomasz",
    "Gareth",
];
const STREETS: &[&str] = &[
    "High Street",
    "Station Road",
    "Church Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Park Avenue",
    "Queen's Road",
    "Mill Lane",
    "The Crescent",
];
const TOWNS: &[&str] = &[
    "Leeds",
    "Bradford",
    "Wakefield",
    "Huddersfield",
    "Halifax",
    "Harrogate",
    "York",
    "Keighley",
];
const RELATIONSHIPS: &[&str] = &["Mother", "Father", "Mum", "Dad", "Guardian", "Carer", ""];
const PREFERENCES: &[&str] = &["", "", "", "email", "text", "any", "letter"];
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// The header `sais generate cohort` writes.
pub const COHORT_HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_PREFERRED_FIRST_NAME,CHILD_DATE_OF_BIRTH,CHILD_NHS_NUMBER,CHILD_GENDER,CHILD_YEAR_GROUP,CHILD_ADDRESS_LINE_1,CHILD_ADDRESS_LINE_2,CHILD_TOWN,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_RESTRICTED,PARENT_1_NAME,PARENT_1_RELATIONSHIP,PARENT_1_EMAIL,PARENT_1_PHONE,PARENT_1_CONTACT_PREFERENCE,PARENT_2_NAME,PARENT_2_RELATIONSHIP,PARENT_2_EMAIL,PARENT_2_PHONE,PARENT_2_CONTACT_PREFERENCE";

/// Walks the valid NHS numbers of the 999 test range in order.
#[derive(Debug, Clone)]
pub struct TestNhsNumbers {
    next: u64,
}

impl Default for TestNhsNumbers {
    fn default() -> Self {
        Self { next: 999_000_000 }
    }
}

impl Iterator for TestNhsNumbers {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        while self.next <= 999_999_999 {
            let base = self.next;
            self.next += 1;
            let mut sum = 0;
            let mut rest = base;
            for weight in 2..=10 {
                sum += (rest % 10) * weight;
                rest /= 10;
            }
            match 11 - sum % 11 {
                10 => continue,
                11 => return Some(base * 10),
                check => return Some(base * 10 + check),
            }
        }
        None
    }
}

/// A postcode unique to `i` (valid format, not necessarily a real address).
fn postcode(i: u64) -> String {
    // Letters allowed in the first and second positions of a UK postcode area.
    const FIRST: &[u8] = b"ABCDEFGHJKLMNPRSTUWYZ";
    const SECOND: &[u8] = b"ABCDEFGHKLMNPQRSTUVWXY";
    let (f, s) = (FIRST.len() as u64, SECOND.len() as u64);
    let area = [FIRST[(i % f) as usize], SECOND[(i / f % s) as usize]];
    let rest = i / (f * s);
    let district = rest % 99 + 1;
    let rest = rest / 99;
    let sector = rest % 10;
    let rest = rest / 10;
    let n = INWARD_LETTERS.len() as u64;
    let unit = [
        INWARD_LETTERS[(rest % n) as usize],
        INWARD_LETTERS[(rest / n % n) as usize],
    ];
    format!(
        "{}{}{district} {sector}{}{}",
        area[0] as char, area[1] as char, unit[0] as char, unit[1] as char
    )
}

fn mobile(rng: &mut SplitMix64) -> String {
    let n = rng.below(1000);
    match rng.below(5) {
        0 => format!("07700 900{n:03}"),
        1 => format!("+44 7700 900{n:03}"),
        2 => format!("447700900{n:03}"),
        3 => format!("+44 (0)7700 900{n:03}"),
        _ => format!("07700900{n:03}"),
    }
}

fn landline(rng: &mut SplitMix64) -> String {
    format!("0113 496 {:04}", rng.below(10_000))
}

/// The ways `--invalid-rate` breaks a row.
const FAULTS: usize = 6;

/// Writes a cohort of `rows` children: the header, then one line per child.
pub fn write_cohort<W: Write>(
    out: &mut W,
    rows: u64,
    seed: u64,
    invalid_rate: f64,
) -> io::Result<()> {
    let mut rng = SplitMix64::new(seed);
    let mut nhs = TestNhsNumbers::default();
    writeln!(out, "{COHORT_HEADER}")?;
    for i in 0..rows {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let preferred = if rng.chance(0.05) {
            rng.pick(FIRST)
        } else {
            ""
        };
        let year_group = 7 + rng.below(5);
        let birth_year = 2026 - 12 - (year_group - 7);
        let mut dob = format!(
            "{birth_year}-{:02}-{:02}",
            rng.below(12) + 1,
            rng.below(28) + 1
        );
        let mut nhs_number = if rng.chance(0.08) {
            String::new()
        } else {
            nhs.next().map(|n| n.to_string()).unwrap_or_default()
        };
        let gender = ["Female", "Male", "Not known", ""][rng.below(4) as usize];
        let house = rng.below(200) + 1;
        let line_1 = format!("{house} {}", rng.pick(STREETS));
        let line_2 = if rng.chance(0.2) { "Flat 2" } else { "" };
        let town = rng.pick(TOWNS);
        let mut code = postcode(i);
        let urn = ["123456", "123457", "123458", "888888"][rng.below(4) as usize];
        let restricted = if rng.chance(0.01) { "Y" } else { "" };

        let mut parents: Vec<[String; 5]> = Vec::with_capacity(2);
        let parent_count = if rng.chance(0.03) {
            0
        } else if rng.chance(0.35) {
            1
        } else {
            2
        };
        for p in 0..parent_count {
            let name = format!("{} {last}", rng.pick(PARENT_FIRST));
            let email = if rng.chance(0.85) {
                format!("parent{p}.{i}@example.com")
            } else {
                String::new()
            };
            let phone = match rng.below(10) {
                0 => landline(&mut rng),
                1 => String::new(),
                _ => mobile(&mut rng),
            };
            parents.push([
                name,
                rng.pick(RELATIONSHIPS).to_owned(),
                email,
                phone,
                rng.pick(PREFERENCES).to_owned(),
            ]);
        }
        if rng.chance(invalid_rate) {
            match rng.below(FAULTS as u64) {
                0 => nhs_number = "9990000019".into(), // wrong check digit
                1 => dob = format!("{birth_year}-02-30"),
                2 => code = "NOT A CODE".into(),
                3 => {
                    if let Some(p) = parents.first_mut() {
                        p[2] = "parent@@example".into();
                    } else {
                        dob = "tomorrow".into();
                    }
                }
                4 => {
                    if let Some(p) = parents.first_mut() {
                        p[3] = "07700 90012".into();
                    } else {
                        code = "ZZ".into();
                    }
                }
                _ => dob = String::new(),
            }
        }
        write!(
            out,
            "{first},{last},{preferred},{dob},{nhs_number},{gender},{year_group},{line_1},{line_2},{town},{code},{urn},{restricted}"
        )?;
        for p in 0..2 {
            match parents.get(p) {
                Some(fields) => {
                    for field in fields {
                        write!(out, ",{field}")?;
                    }
                }
                None => write!(out, ",,,,,")?,
            }
        }
        writeln!(out)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_file() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_cohort(&mut a, 50, 7, 0.0).unwrap();
        write_cohort(&mut b, 50, 7, 0.0).unwrap();
        assert_eq!(a, b);
        let mut c = Vec::new();
        write_cohort(&mut c, 50, 8, 0.0).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn test_nhs_numbers_have_valid_check_digits_and_start_999() {
        for n in TestNhsNumbers::default().take(100) {
            let digits: Vec<u64> = n.to_string().bytes().map(|b| u64::from(b - b'0')).collect();
            assert_eq!(&digits[..3], [9, 9, 9]);
            let sum: u64 = digits[..9]
                .iter()
                .zip((2..=10).rev())
                .map(|(d, w)| d * w)
                .sum();
            assert_eq!((11 - sum % 11) % 11, digits[9]);
        }
    }

    #[test]
    fn postcodes_are_unique_per_row() {
        let codes: std::collections::HashSet<String> = (0..100_000).map(postcode).collect();
        assert_eq!(codes.len(), 100_000);
    }
}
