//! Exit codes: the CI contract, the same for `run` and `check`.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | valid |
//! | 1 | invalid: a consistency violation was found |
//! | 2 | unknown: the checker could not decide within its budget |
//! | 3 | the test could not be carried out (bad spec or history, missing tool, usage error, crash) |

use faultline_checkers::Verdict;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Valid = 0,
    Invalid = 1,
    Unknown = 2,
    Error = 3,
}

impl Code {
    /// How serious a code is when several histories or checkers are summed up:
    /// invalid, then error, then unknown, then valid.
    fn rank(self) -> u8 {
        match self {
            Code::Valid => 0,
            Code::Unknown => 1,
            Code::Error => 2,
            Code::Invalid => 3,
        }
    }

    /// The most serious of two codes.
    pub fn worst(self, other: Code) -> Code {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

impl From<Verdict> for Code {
    fn from(v: Verdict) -> Code {
        match v {
            Verdict::Valid => Code::Valid,
            Verdict::Invalid => Code::Invalid,
            Verdict::Unknown => Code::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_serious_code_is_invalid_then_error_then_unknown() {
        assert_eq!(Code::Valid.worst(Code::Unknown), Code::Unknown);
        assert_eq!(Code::Unknown.worst(Code::Error), Code::Error);
        assert_eq!(Code::Error.worst(Code::Invalid), Code::Invalid);
        assert_eq!(Code::Invalid.worst(Code::Error), Code::Invalid);
    }
}
