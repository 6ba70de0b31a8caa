//! Host-side errors: a file or an option is wrong. Never a guest fault.

use std::fmt;
use std::path::PathBuf;

/// A host-side error with the file or option it concerns.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read or is malformed.
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A command-line option or configuration value is wrong.
    Option {
        /// The option.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The host refused a resource (memory mapping, thread).
    Host(String),
}

impl Error {
    /// An error about `path`.
    pub fn file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Error {
        Error::File {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// An error about option `name`.
    pub fn option(name: impl Into<String>, problem: impl Into<String>) -> Error {
        Error::Option {
            name: name.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::File { path, problem } => write!(f, "{}: {}", path.display(), problem),
            Error::Option { name, problem } => write!(f, "option {name}: {problem}"),
            Error::Host(problem) => write!(f, "host: {problem}"),
        }
    }
}

impl std::error::Error for Error {}
