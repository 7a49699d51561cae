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
    let file = open_without_waiting(path)?;
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

/// Opens `path` for reading without waiting for a writer. A plain open of a named pipe
/// blocks until some process opens it for writing, which may be never. With O_NONBLOCK
/// the open returns at once, and reads of a pipe without a writer return an empty file.
/// Blocking mode is restored afterwards, so that reads wait for a writer that exists.
fn open_without_waiting(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    use nix::fcntl::{FcntlArg, OFlag, fcntl};

    let file = std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path)?;
    let flags = OFlag::from_bits_truncate(fcntl(&file, FcntlArg::F_GETFL)?);
    fcntl(&file, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(file)
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
    fn read_limited_does_not_wait_for_pipe_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR).unwrap();

        assert_eq!(read_limited(&path, 10).unwrap(), b"");
    }

    #[test]
    fn read_limited_rejects_directory() {
        let dir = tempfile::tempdir().unwrap();

        assert!(matches!(read_limited(dir.path(), 10), Err(ReadError::Io(_))));
    }
}
