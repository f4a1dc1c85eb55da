//! The simulator's errors.

use core::fmt;

/// Why a simulation could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario file is malformed or holds a value out of range.
    Scenario(String),
    /// The core refused a configuration.
    Config {
        /// The configuration's name.
        name: String,
        /// The core's message.
        message: String,
    },
    /// Something the simulator cannot build (a window size outside its list).
    Unsupported(String),
    /// A trace line could not be read.
    Trace {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// Reading or writing a file failed.
    Io(String),
    /// Drawing a picture failed.
    Plot(String),
    /// A command-line mistake.
    Usage(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Scenario(m) => write!(f, "scenario: {m}"),
            SimError::Config { name, message } => write!(f, "configuration `{name}`: {message}"),
            SimError::Unsupported(m) => write!(f, "unsupported: {m}"),
            SimError::Trace { line, message } => write!(f, "trace line {line}: {message}"),
            SimError::Io(m) => write!(f, "i/o: {m}"),
            SimError::Plot(m) => write!(f, "plot: {m}"),
            SimError::Usage(m) => write!(f, "usage: {m}"),
        }
    }
}

impl core::error::Error for SimError {}
