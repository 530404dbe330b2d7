//! Where COPY may read and write: the configured roots, and nothing else.
//!
//! COPY is an administrator's statement, and a path in it is a path on the
//! node's machine. A node confines it to the directories given with
//! `--copy-root` ([`NodeConfig::copy_roots`](crate::node::NodeConfig)); with
//! none, COPY cannot touch files at all. Within a root:
//!
//! * paths must be absolute, without `..`; the root a path falls under is
//!   found by its text, and the file is opened *through* the root's
//!   directory handle with cap-std, which resolves every component itself
//!   and refuses symlinks that lead out of the root (on Linux with
//!   `openat2(RESOLVE_BENEATH)`), so no check-then-open race remains;
//! * the node's data directory is off-limits even inside a root: the path a
//!   file was really opened at is checked against it;
//! * COPY FROM reads regular files only (a FIFO or a device such as
//!   `/dev/zero` would block or never end), opened without blocking;
//! * COPY TO creates directories only inside the root, and never replaces an
//!   existing file unless asked to with `WITH (overwrite = true)`.

use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, File, OpenOptions, OpenOptionsExt};

use crate::error::{Error, Result};
use crate::request::FileShare;

/// The directories COPY may use, opened.
pub struct CopyRoots {
    roots: Vec<(PathBuf, Dir)>,
    /// The node's data directory, resolved.
    data_dir: Option<PathBuf>,
}

impl CopyRoots {
    /// Opens the roots. A root that does not exist, or lies inside the data
    /// directory, is an error.
    pub fn open(roots: &[PathBuf], data_dir: Option<&Path>) -> Result<CopyRoots> {
        let data_dir = data_dir.and_then(|d| std::fs::canonicalize(d).ok());
        let mut out = Vec::with_capacity(roots.len());
        for root in roots {
            let resolved = std::fs::canonicalize(root).map_err(|e| {
                Error::Io(format!("COPY root {} cannot be used: {e}", root.display()))
            })?;
            if data_dir.as_ref().is_some_and(|d| resolved.starts_with(d)) {
                return Err(Error::InvalidArgument(format!(
                    "COPY root {} lies inside the data directory",
                    root.display()
                )));
            }
            let dir = Dir::open_ambient_dir(&resolved, ambient_authority()).map_err(|e| {
                Error::Io(format!(
                    "COPY root {} cannot be opened: {e}",
                    root.display()
                ))
            })?;
            out.push((resolved, dir));
        }
        Ok(CopyRoots {
            roots: out,
            data_dir,
        })
    }

    /// The root `path` falls under and the path below it.
    fn locate(&self, uri: &str) -> Result<(&Dir, PathBuf, PathBuf)> {
        if self.roots.is_empty() {
            return Err(Error::Unsupported(
                "COPY cannot use the file system on this node: start it with --copy-root DIR \
                 to allow a directory"
                    .into(),
            ));
        }
        let text = if let Some(rest) = uri.strip_prefix("file://") {
            rest
        } else if uri.contains("://") {
            return Err(Error::Unsupported(format!(
                "COPY supports file:// URIs and absolute paths only, got '{uri}'"
            )));
        } else {
            uri
        };
        let path = Path::new(text);
        if !path.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "COPY needs an absolute file path or file:// URI, got '{uri}'"
            )));
        }
        if path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(Error::InvalidArgument(format!(
                "COPY paths may not contain '.' or '..', got '{uri}'"
            )));
        }
        for (root, dir) in &self.roots {
            if let Ok(rel) = path.strip_prefix(root) {
                return Ok((dir, root.clone(), rel.to_path_buf()));
            }
        }
        Err(Error::InvalidArgument(format!(
            "COPY may only use files below {}, not '{uri}'",
            self.roots
                .iter()
                .map(|(r, _)| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Refuses a file that was opened inside the data directory (through a
    /// symlink within a root that contains it).
    fn check_not_data(&self, file: &File, shown: &str) -> Result<()> {
        let Some(data) = &self.data_dir else {
            return Ok(());
        };
        if let Some(real) = real_path(file)
            && real.starts_with(data)
        {
            return Err(Error::InvalidArgument(format!(
                "COPY may not use the node's data directory: '{shown}'"
            )));
        }
        Ok(())
    }

    /// The files a COPY FROM URI names: one path, or a glob in the file
    /// name (`*`, `?`, `[...]`, `{a,b}`). Each is opened, or carries the
    /// reason it could not be.
    pub fn sources(
        &self,
        uri: &str,
        share: Option<FileShare>,
    ) -> Result<Vec<(String, io::Result<std::fs::File>)>> {
        let mine = |position: usize| share.is_none_or(|s| s.takes(position));
        let (dir, root, rel) = self.locate(uri)?;
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = rel.parent().unwrap_or(Path::new(""));
        let shown = |rel: &Path| root.join(rel).display().to_string();
        let mut out = Vec::new();
        let Some(matcher) = glob(&name)? else {
            if !mine(0) {
                return Ok(out);
            }
            let opened = self.open_source(dir, &rel, &shown(&rel));
            out.push((shown(&rel), opened));
            return Ok(out);
        };
        let listing = if parent.as_os_str().is_empty() {
            dir.entries()
        } else {
            dir.read_dir(parent)
        };
        let mut names: Vec<String> = match listing {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| matcher.is_match(n))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        // Directories and the like are not matches; a file that cannot be
        // opened (a symlink out of the root) is reported.
        names.retain(|n| !dir.metadata(parent.join(n)).is_ok_and(|m| !m.is_file()));
        for (position, n) in names.into_iter().enumerate() {
            if !mine(position) {
                continue;
            }
            let rel = parent.join(&n);
            let opened = self.open_source(dir, &rel, &shown(&rel));
            out.push((shown(&rel), opened));
        }
        Ok(out)
    }

    fn open_source(&self, dir: &Dir, rel: &Path, shown: &str) -> io::Result<std::fs::File> {
        let mut options = OpenOptions::new();
        // Without blocking: opening a FIFO for reading would otherwise wait
        // for a writer forever.
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = dir.open_with(rel, &options)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        self.check_not_data(&file, shown)
            .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.message()))?;
        let file = file.into_std();
        clear_nonblocking(&file)?;
        Ok(file)
    }

    /// Opens the directory a COPY TO writes into, creating it (inside its
    /// root) if needed. It walks down one component at a time, and checks
    /// each directory before creating anything inside it.
    pub fn target_dir(&self, uri: &str) -> Result<TargetDir> {
        let (dir, root, rel) = self.locate(uri)?;
        let shown = root.join(&rel).display().to_string();
        let mut current = dir.try_clone()?;
        for part in rel.components() {
            self.check_dir_not_data(&current, &shown)?;
            let part = part.as_os_str();
            match current.open_dir(part) {
                Ok(next) => current = next,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Another node sharing the storage may create it first.
                    match current.create_dir(part) {
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                            return Err(Error::Io(format!("cannot create {shown}: {e}")));
                        }
                        _ => {}
                    }
                    current = current
                        .open_dir(part)
                        .map_err(|e| Error::Io(format!("cannot open {shown}: {e}")))?;
                }
                Err(e) => return Err(Error::Io(format!("cannot open {shown}: {e}"))),
            }
        }
        self.check_dir_not_data(&current, &shown)?;
        Ok(TargetDir {
            dir: current,
            shown,
        })
    }

    fn check_dir_not_data(&self, dir: &Dir, shown: &str) -> Result<()> {
        if let (Some(data), Some(real)) = (&self.data_dir, real_dir_path(dir))
            && real.starts_with(data)
        {
            return Err(Error::InvalidArgument(format!(
                "COPY may not use the node's data directory: '{shown}'"
            )));
        }
        Ok(())
    }
}

/// A directory COPY TO writes files into.
pub struct TargetDir {
    dir: Dir,
    shown: String,
}

impl TargetDir {
    /// Creates `name` in the directory; an existing file is an error unless
    /// `overwrite`, and a symlink is never followed.
    pub fn create(&self, name: &str, overwrite: bool) -> Result<std::fs::File> {
        let mut options = OpenOptions::new();
        options.write(true).custom_flags(libc::O_NOFOLLOW);
        if overwrite {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let shown = format!("{}/{name}", self.shown);
        match self.dir.open_with(name, &options) {
            Ok(f) => Ok(f.into_std()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::InvalidArgument(
                format!("{shown} exists already; add WITH (overwrite = true) to replace it"),
            )),
            Err(e) => Err(Error::Io(format!("cannot write {shown}: {e}"))),
        }
    }
}

/// Where an open file really is (Linux: `/proc/self/fd`).
fn real_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

fn real_dir_path(dir: &Dir) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()
}

/// Makes reads block again (the file was opened non-blocking only so that
/// opening could not hang).
fn clear_nonblocking(file: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function borrows, with flags only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The matcher for a file name that is a glob, `None` for a plain name.
fn glob(name: &str) -> Result<Option<globset::GlobMatcher>> {
    if !name.contains(['*', '?', '[', '{']) {
        return Ok(None);
    }
    let glob = globset::GlobBuilder::new(name)
        .literal_separator(true)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("Invalid file name pattern '{name}': {e}")))?;
    Ok(Some(glob.compile_matcher()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (PathBuf, PathBuf, CopyRoots) {
        let base = std::env::temp_dir().join(format!(
            "shoal-copy-roots-{}-{}",
            std::process::id(),
            crate::runtime::random_u64()
        ));
        let root = base.join("root");
        let data = base.join("data");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(root.join("a.json"), "{}\n").unwrap();
        std::fs::write(root.join("sub/b.json"), "{}\n").unwrap();
        std::fs::write(base.join("outside.json"), "{}\n").unwrap();
        std::fs::write(data.join("secret.json"), "{}\n").unwrap();
        std::os::unix::fs::symlink(base.join("outside.json"), root.join("escape.json")).unwrap();
        std::os::unix::fs::symlink(&data, root.join("data")).unwrap();
        // The data directory cannot be a root, nor be reached through one.
        assert!(CopyRoots::open(std::slice::from_ref(&data), Some(&data)).is_err());
        let around = CopyRoots::open(std::slice::from_ref(&base), Some(&data)).unwrap();
        let r = |p: &Path| format!("file://{}", p.display());
        assert!(
            around.sources(&r(&data.join("secret.json")), None).unwrap()[0]
                .1
                .is_err()
        );
        assert!(
            around
                .sources(&r(&base.join("outside.json")), None)
                .unwrap()[0]
                .1
                .is_ok()
        );
        assert!(around.target_dir(&r(&data.join("x"))).is_err());
        assert!(!data.join("x").exists());
        let roots = CopyRoots::open(std::slice::from_ref(&root), Some(&data)).unwrap();
        (base, root, roots)
    }

    #[test]
    fn reads_stay_inside_the_roots() {
        let (base, root, roots) = setup();
        let r = |p: &Path| format!("file://{}", p.display());
        assert!(
            roots.sources(&r(&root.join("a.json")), None).unwrap()[0]
                .1
                .is_ok()
        );
        assert!(
            roots.sources(&r(&root.join("sub/b.json")), None).unwrap()[0]
                .1
                .is_ok()
        );
        let globbed = roots.sources(&r(&root.join("*.json")), None).unwrap();
        assert_eq!(globbed.len(), 2);
        assert!(globbed[0].0.ends_with("a.json") && globbed[0].1.is_ok());
        assert!(globbed[1].0.ends_with("escape.json") && globbed[1].1.is_err());
        // Shared storage: each node its share of the files, each file once.
        let share = |index| Some(FileShare { index, of: 2 });
        let first = roots.sources(&r(&root.join("*.json")), share(0)).unwrap();
        let second = roots.sources(&r(&root.join("*.json")), share(1)).unwrap();
        assert_eq!((first.len(), second.len()), (1, 1));
        assert!(first[0].0.ends_with("a.json") && second[0].0.ends_with("escape.json"));
        assert!(
            roots
                .sources(&r(&root.join("a.json")), share(1))
                .unwrap()
                .is_empty()
        );
        // Outside the root, relative, with '..', or through a symlink out.
        assert!(roots.sources("file:///etc/passwd", None).is_err());
        assert!(roots.sources("a.json", None).is_err());
        assert!(
            roots
                .sources(&r(&root.join("../outside.json")), None)
                .is_err()
        );
        assert!(
            roots.sources(&r(&root.join("escape.json")), None).unwrap()[0]
                .1
                .is_err()
        );
        assert!(
            roots
                .sources(&r(&root.join("data/secret.json")), None)
                .unwrap()[0]
                .1
                .is_err()
        );
        assert!(roots.sources("s3://bucket/x", None).is_err());
        // Only regular files: not a directory.
        assert!(
            roots.sources(&r(&root.join("sub")), None).unwrap()[0]
                .1
                .is_err()
        );
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn writes_stay_inside_and_never_replace_unasked() {
        let (base, root, roots) = setup();
        let r = |p: &Path| format!("file://{}", p.display());
        let t = roots.target_dir(&r(&root.join("out/deeper"))).unwrap();
        t.create("x.json", false).unwrap();
        assert!(t.create("x.json", false).is_err());
        assert!(t.create("x.json", true).is_ok());
        assert!(roots.target_dir(&r(&base.join("elsewhere"))).is_err());
        assert!(roots.target_dir(&r(&root.join("data"))).is_err());
        assert!(!base.join("elsewhere").exists());
        // A symlink in place of the file is not followed.
        std::os::unix::fs::symlink(base.join("outside.json"), root.join("out/link.json")).unwrap();
        let top = roots.target_dir(&r(&root.join("out"))).unwrap();
        assert!(top.create("link.json", true).is_err());
        assert_eq!(
            std::fs::read_to_string(base.join("outside.json")).unwrap(),
            "{}\n"
        );
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn globs() {
        let matches = |g: &str, n: &str| glob(g).unwrap().unwrap().is_match(n);
        assert!(matches("*.json", "a.json"));
        assert!(matches("qu*.json", "quotes.json"));
        assert!(!matches("qu*.json", "locations.json"));
        assert!(matches("*", "x"));
        assert!(matches("part-?.{json,csv}", "part-1.csv"));
        assert!(glob("plain.json").unwrap().is_none());
        assert!(glob("bad[.json").is_err());
    }
}
