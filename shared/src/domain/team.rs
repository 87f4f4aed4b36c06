//! The team's code, which scopes every key, record, folder and log line.

use std::fmt;

use super::Invalid;
use super::serde_str::string_serde;

/// A team's code: letters, digits and `-` (e.g. `RYG-sais`). Every key and record is scoped by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeamCode(String);

impl TeamCode {
    /// Accepts 1–64 characters of ASCII letters, digits and `-`.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    fn parse_stored(s: &str) -> Result<Self, Invalid> {
        Self::parse(s).ok_or(Invalid {
            code: "invalid_team",
            expected: "1–64 letters, digits and -",
        })
    }

    /// The code as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(TeamCode, TeamCode::parse_stored);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_code_round_trips_and_a_bad_one_is_refused_on_the_way_in() {
        let team = TeamCode::parse("RYG-sais").expect("valid");
        let json = serde_json::to_string(&team).expect("serialises");
        assert_eq!(json, "\"RYG-sais\"");
        assert_eq!(serde_json::from_str::<TeamCode>(&json).ok(), Some(team));
        assert!(serde_json::from_str::<TeamCode>("\"RYG sais\"").is_err());
        assert!(serde_json::from_str::<TeamCode>("\"\"").is_err());
    }
}
