//! Reading `/proc`: open descriptors and zombie children of a process.
//!
//! The book asks readers to watch `ls /proc/PID/fd` and `ps` while a server
//! runs; these helpers let tests assert the same things. Linux only.

use std::fs;
use std::io;

/// How many file descriptors process `pid` has open.
///
/// # Errors
///
/// If `/proc/PID/fd` cannot be read (no such process, or no permission).
pub fn open_fds(pid: i32) -> io::Result<usize> {
    Ok(fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// A process as `/proc/PID/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The process id.
    pub pid: i32,
    /// The one-letter state: `R`, `S`, `Z` (zombie), …
    pub state: char,
    /// The parent's process id.
    pub ppid: i32,
}

/// Parses `/proc/PID/stat`. The command name sits in parentheses and may
/// itself contain spaces and parentheses, so parse from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let pid = text.split_whitespace().next()?.parse().ok()?;
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(ProcStat { pid, state, ppid })
}

/// Every process whose parent is `ppid`.
pub fn children_of(ppid: i32) -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let pid: i32 = name.to_str()?.parse().ok()?;
            let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(&text)
        })
        .filter(|stat| stat.ppid == ppid)
        .collect()
}

/// How many of `ppid`'s children are zombies (state `Z`, `<defunct>` in ps).
pub fn zombie_children(ppid: i32) -> usize {
    children_of(ppid).iter().filter(|c| c.state == 'Z').count()
}

/// Polls `check` every 10 ms until it returns true or `timeout` passes;
/// returns its last answer. For conditions another process makes true.
pub fn eventually(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_odd_names() {
        let stat = parse_stat("42 (my (odd) name) Z 7 42 42 0 -1").unwrap();
        assert_eq!(
            stat,
            ProcStat {
                pid: 42,
                state: 'Z',
                ppid: 7
            }
        );
    }

    #[test]
    fn counts_our_own_descriptors() {
        assert!(open_fds(std::process::id() as i32).unwrap() >= 3);
    }
}
