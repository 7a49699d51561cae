//! Reading input files with a size limit.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Failure to read a bounded input file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),

    #[error("larger than {max} bytes")]
    TooLarge { max: u64 },
}

/// Reads at most `max` bytes of `path`, failing when there are more.
///
/// The size comes from reading, not from the file's metadata, which is 0 for devices,
/// pipes and `/dev/stdin`: a check on the metadata alone would read `/dev/zero` forever.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(ReadError::Io(io::Error::new(io::ErrorKind::IsADirectory, "is a directory")));
    }

    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_limited_stops_on_endless_device() {
        let result = read_limited(Path::new("/dev/zero"), 1024);

        assert!(matches!(result, Err(ReadError::TooLarge { max: 1024 })));
    }

    #[test]
    fn read_limited_reads_small_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small");
        std::fs::write(&path, b"abc").unwrap();

        assert_eq!(read_limited(&path, 3).unwrap(), b"abc");
        assert!(matches!(read_limited(&path, 2), Err(ReadError::TooLarge { max: 2 })));
    }

    #[test]
    fn read_limited_rejects_directory() {
        let dir = tempfile::tempdir().unwrap();

        assert!(matches!(read_limited(dir.path(), 10), Err(ReadError::Io(_))));
    }
}
