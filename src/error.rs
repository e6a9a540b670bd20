//! The error type every fallible call returns.

use std::fmt;

/// Why a call was refused. No call panics on bad input: it returns one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A size that must be at least 1 was 0 (`what` names it: `"T"`, `"N"`, `"I"`, `"H"`, ...).
    ZeroSize { what: &'static str },
    /// A product of sizes does not fit in `usize` (or is too large to allocate).
    Overflow { what: &'static str },
    /// A buffer has the wrong number of elements.
    LengthMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// An argument was given that this layer does not take (e.g. a cell state for a GRU).
    Unexpected { what: &'static str },
    /// An argument this call needs is missing.
    Missing { what: &'static str },
    /// The training workspace was not filled by `forward_train` of this layer with this shape,
    /// or backward-weights was called before backward-data.
    Workspace { reason: &'static str },
    /// A parameter value is out of its range (`what` names it, `why` says the rule).
    InvalidValue { what: &'static str, why: &'static str },
    /// A named parameter of an imported or exported model (e.g. `weight_hh_l1_reverse` of a
    /// PyTorch `state_dict`) is missing, has the wrong shape or type, or is not supported;
    /// `name` is the parameter's name, `why` says what is wrong.
    Param { name: String, why: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroSize { what } => write!(f, "{what} must be at least 1"),
            Error::Overflow { what } => write!(f, "{what}: size overflows"),
            Error::LengthMismatch { what, expected, got } => {
                write!(f, "{what}: expected {expected} elements, got {got}")
            }
            Error::Unexpected { what } => write!(f, "{what}: not taken by this layer"),
            Error::Missing { what } => write!(f, "{what}: required but missing"),
            Error::Workspace { reason } => write!(f, "training workspace: {reason}"),
            Error::InvalidValue { what, why } => write!(f, "{what}: {why}"),
            Error::Param { name, why } => write!(f, "parameter {name}: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for `Result<T, fusedrnn::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// `a * b`, or [`Error::Overflow`] naming `what`.
pub(crate) fn mul(a: usize, b: usize, what: &'static str) -> Result<usize> {
    a.checked_mul(b).ok_or(Error::Overflow { what })
}

/// Product of all `dims`, or [`Error::Overflow`] naming `what`.
pub(crate) fn product(dims: &[usize], what: &'static str) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &d| mul(acc, d, what))
}

/// Checks that `buf` has exactly `expected` elements.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::LengthMismatch { what, expected, got })
    }
}
