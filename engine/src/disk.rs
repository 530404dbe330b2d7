//! The node's disk: where translogs, segments and cluster metadata live.
//!
//! A [`Disk`] is a flat namespace of files addressed by `/`-separated relative
//! paths. [`FsDisk`] maps it onto a data directory with real fsyncs; [`MemDisk`]
//! keeps everything in memory, owned by whoever created it, so a simulated node
//! can be killed and restarted on the same "disk". `MemDisk` also models a
//! power cut: [`MemDisk::crash`] drops every byte that was not synced.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// An append-only file with explicit durability, used for translogs. Both
/// operations take `&self` so that a sync can run on another thread while
/// the next append waits only for the shard, not for the disk.
pub trait AppendFile: Send + Sync {
    /// Appends bytes (not yet durable).
    fn append(&self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended before the call durable.
    fn sync(&self) -> io::Result<()>;
}

/// A node's durable storage.
pub trait Disk: Send + Sync + std::fmt::Debug {
    /// Reads a whole file.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// Replaces a file atomically and durably (write, fsync, rename).
    fn write_atomic(&self, path: &str, data: &[u8]) -> io::Result<()>;
    /// Opens a file for appending, creating it if needed.
    fn open_append(&self, path: &str) -> io::Result<Box<dyn AppendFile>>;
    /// Lists the names directly under a directory (files and directories), sorted.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
    /// Removes a file; missing files are not an error.
    fn remove(&self, path: &str) -> io::Result<()>;
    /// Removes a directory and everything below it; missing is not an error.
    fn remove_dir(&self, dir: &str) -> io::Result<()>;
    /// Whether a file exists.
    fn exists(&self, path: &str) -> bool;
    /// Bytes used below a directory.
    fn size_of(&self, dir: &str) -> u64;
}

/// A [`Disk`] on the real file system, rooted at a data directory.
#[derive(Debug, Clone)]
pub struct FsDisk {
    root: PathBuf,
}

impl FsDisk {
    /// Opens (and creates) the data directory.
    pub fn open(root: impl AsRef<Path>) -> io::Result<FsDisk> {
        fs::create_dir_all(root.as_ref())?;
        Ok(FsDisk {
            root: root.as_ref().to_path_buf(),
        })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
}

struct FsAppend(fs::File);

impl AppendFile for FsAppend {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        (&self.0).write_all(data)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

fn sync_dir(dir: &Path) {
    // Directory fsync makes a rename durable; not every platform supports it.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Disk for FsDisk {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(path))
    }

    fn write_atomic(&self, path: &str, data: &[u8]) -> io::Result<()> {
        let target = self.path(path);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)?;
        let tmp = target.with_extension("tmp~");
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &target)?;
        sync_dir(&dir);
        Ok(())
    }

    fn open_append(&self, path: &str) -> io::Result<Box<dyn AppendFile>> {
        let target = self.path(path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)?;
        if let Some(dir) = target.parent() {
            sync_dir(dir);
        }
        Ok(Box::new(FsAppend(f)))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        match fs::read_dir(self.path(dir)) {
            Ok(entries) => {
                for e in entries {
                    let name = e?.file_name().to_string_lossy().to_string();
                    if !name.ends_with(".tmp~") {
                        out.push(name);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        out.sort();
        Ok(out)
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        match fs::remove_file(self.path(path)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn remove_dir(&self, dir: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.path(dir)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }

    fn size_of(&self, dir: &str) -> u64 {
        fn walk(p: &Path) -> u64 {
            match fs::read_dir(p) {
                Ok(rd) => rd
                    .flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum(),
                Err(_) => 0,
            }
        }
        walk(&self.path(dir))
    }
}

#[derive(Debug, Default, Clone)]
struct MemFile {
    data: Vec<u8>,
    synced: usize,
}

/// An in-memory [`Disk`] that outlives the node using it (the simulator's disk).
#[derive(Debug, Default, Clone)]
pub struct MemDisk {
    files: Arc<Mutex<BTreeMap<String, MemFile>>>,
}

impl MemDisk {
    /// A new, empty disk.
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    /// Simulates a power cut: every byte appended but not synced is lost.
    pub fn crash(&self) {
        let mut files = self.lock();
        for f in files.values_mut() {
            f.data.truncate(f.synced);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, MemFile>> {
        // A poisoned lock only means another task panicked mid-write; the map is still usable.
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct MemAppend {
    files: Arc<Mutex<BTreeMap<String, MemFile>>>,
    path: String,
}

impl AppendFile for MemAppend {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files
            .entry(self.path.clone())
            .or_default()
            .data
            .extend_from_slice(data);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let f = files.entry(self.path.clone()).or_default();
        f.synced = f.data.len();
        Ok(())
    }
}

fn under(dir: &str) -> String {
    if dir.is_empty() || dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    }
}

impl Disk for MemDisk {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.lock()
            .get(path)
            .map(|f| f.data.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.to_string()))
    }

    fn write_atomic(&self, path: &str, data: &[u8]) -> io::Result<()> {
        self.lock().insert(
            path.to_string(),
            MemFile {
                data: data.to_vec(),
                synced: data.len(),
            },
        );
        Ok(())
    }

    fn open_append(&self, path: &str) -> io::Result<Box<dyn AppendFile>> {
        self.lock().entry(path.to_string()).or_default();
        Ok(Box::new(MemAppend {
            files: self.files.clone(),
            path: path.to_string(),
        }))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let prefix = under(dir);
        let mut out: Vec<String> = self
            .lock()
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| {
                k[prefix.len()..]
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        out.dedup();
        Ok(out)
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        self.lock().remove(path);
        Ok(())
    }

    fn remove_dir(&self, dir: &str) -> io::Result<()> {
        let prefix = under(dir);
        self.lock().retain(|k, _| !k.starts_with(&prefix));
        Ok(())
    }

    fn exists(&self, path: &str) -> bool {
        self.lock().contains_key(path)
    }

    fn size_of(&self, dir: &str) -> u64 {
        let prefix = under(dir);
        self.lock()
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, f)| f.data.len() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(disk: &dyn Disk) {
        disk.write_atomic("a/b/meta.json", b"{}").unwrap();
        let log = disk.open_append("a/t/translog-1").unwrap();
        log.append(b"one").unwrap();
        log.sync().unwrap();
        log.append(b"two").unwrap();
        assert_eq!(disk.read("a/b/meta.json").unwrap(), b"{}");
        assert_eq!(
            disk.list("a").unwrap(),
            vec!["b".to_string(), "t".to_string()]
        );
        assert!(disk.exists("a/t/translog-1"));
        disk.remove_dir("a/b").unwrap();
        assert!(!disk.exists("a/b/meta.json"));
        assert!(disk.read("missing").is_err());
    }

    #[test]
    fn mem_disk_behaves_like_a_disk_and_loses_unsynced_bytes_on_crash() {
        let disk = MemDisk::new();
        exercise(&disk);
        assert_eq!(disk.read("a/t/translog-1").unwrap(), b"onetwo");
        disk.crash();
        assert_eq!(disk.read("a/t/translog-1").unwrap(), b"one");
    }

    #[cfg(not(madsim))]
    #[test]
    fn fs_disk_behaves_like_a_disk() {
        let dir = std::env::temp_dir().join(format!("shoal-disk-test-{}", std::process::id()));
        let disk = FsDisk::open(&dir).unwrap();
        exercise(&disk);
        assert_eq!(disk.read("a/t/translog-1").unwrap(), b"onetwo");
        fs::remove_dir_all(&dir).unwrap();
    }
}
