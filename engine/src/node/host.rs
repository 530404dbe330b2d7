//! What `sys.nodes` shows of the machine a node runs on: load averages,
//! memory and the data directory's file system. Read from Linux's `/proc`
//! and `statvfs` on a real node; nothing under the simulator, whose nodes
//! share one process and must not read the host (the columns are NULL, as
//! they are on other systems).

/// Host figures; `None` where unknown.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostStats {
    /// 1, 5 and 15 minute load averages.
    pub load: Option<[f64; 3]>,
    /// Memory: (total, available) bytes.
    pub memory: Option<(u64, u64)>,
    /// The data directory's file system: (size, available) bytes.
    pub disk: Option<(u64, u64)>,
}

#[cfg(not(madsim))]
pub fn host_stats(data_dir: Option<&std::path::Path>) -> HostStats {
    HostStats {
        load: load_average(),
        memory: memory(),
        disk: data_dir.and_then(file_system),
    }
}

#[cfg(madsim)]
pub fn host_stats(_data_dir: Option<&std::path::Path>) -> HostStats {
    HostStats::default()
}

#[cfg(not(madsim))]
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(not(madsim))]
fn memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

#[cfg(all(not(madsim), unix))]
fn file_system(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to
    // writable memory of the right type; statvfs fills it when it returns 0.
    let stat = unsafe {
        if libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    let block = stat.f_frsize as u64;
    Some((
        (stat.f_blocks as u64).saturating_mul(block),
        (stat.f_bavail as u64).saturating_mul(block),
    ))
}

#[cfg(all(not(madsim), not(unix)))]
fn file_system(_path: &std::path::Path) -> Option<(u64, u64)> {
    None
}

#[cfg(all(test, not(madsim), target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_linux_host_reports_its_figures() {
        let stats = host_stats(Some(std::path::Path::new("/")));
        let load = stats.load.expect("load average");
        assert!(load.iter().all(|l| *l >= 0.0));
        let (total, available) = stats.memory.expect("memory");
        assert!(available <= total && total > 0);
        let (size, free) = stats.disk.expect("file system");
        assert!(free <= size && size > 0);
    }
}
