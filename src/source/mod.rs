//! Source: decides WHAT to read. Lists the objects under each input the user
//! named (a folder, walked recursively, or a single file here; an S3 prefix
//! in [`s3`]), in a stable order, and marks those the key layout says to skip
//! (digest and Insights objects, files that are not logs, keys outside the
//! selection) with a reason, so every object found is accounted for. Reading
//! the bytes is `fetch`'s job.

pub mod cloudtrail;
pub mod layout;
pub mod s3;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::filter::Filter;
use crate::model::Text;
use layout::{is_log_file_name, last_part, parse_key};

/// One object found by listing.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    /// The input as the user named it.
    pub source: Arc<str>,
    /// The path below the input, `/`-separated (the file name for a single
    /// file). Shared with the object's report row.
    pub key: Arc<str>,
    /// Where to read it.
    pub location: Location,
    /// Size as stored.
    pub size: u64,
    /// What changes when the object's bytes do: the S3 ETag (or the
    /// modification time where a store lists no ETag), or a file's
    /// modification time. `None` when unknown (always read).
    pub version: Option<String>,
    /// The account the key's layout names, for records that name none.
    pub account: Option<Text>,
    /// Why it will not be read, if it will not.
    pub skip: Option<String>,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file named by the object's `source` and `key`: the input
    /// itself (`key` is then its file name), or `key` below the input folder.
    /// Not stored whole: a trail lists hundreds of thousands of objects.
    File { below_input: bool },
    /// A local file whose path is not UTF-8, which `source` and `key` (made
    /// readable) cannot name exactly.
    Path(PathBuf),
    /// An S3 object, whose key is `prefix` (the prefix listed, shared by
    /// the objects of a listing) followed by the object's `key`.
    S3 { bucket: Arc<str>, prefix: Arc<str> },
    /// The events of one name from CloudTrail LookupEvents, already in hand
    /// as a `{"Records":[...]}` document.
    Lookup {
        event_name: String,
        document: Arc<[u8]>,
    },
}

impl ObjectRef {
    /// An object found by a listing, judged by its key: `skip` says why it
    /// will not be read, if it will not.
    pub fn found(
        source: &Arc<str>,
        key: String,
        location: Location,
        size: u64,
        version: Option<String>,
        filter: &Filter,
    ) -> ObjectRef {
        let info = parse_key(&key);
        let name = last_part(&key);
        let skip = if !is_log_file_name(name) {
            Some("not a CloudTrail log file name (expected .json.gz or .json)".to_string())
        } else {
            info.as_ref().and_then(|i| filter.key_verdict(i))
        };
        ObjectRef {
            source: source.clone(),
            key: key.into(),
            location,
            size,
            version,
            account: info.map(|i| i.account),
            skip,
        }
    }

    /// The name every message uses for this object: the path or `s3://`
    /// URL as the user would type it.
    pub fn display(&self) -> String {
        match &self.location {
            // What `path()` would display, without building it: this is
            // asked for several times per object.
            Location::File { below_input: true } => {
                let (source, key) = (&*self.source, &*self.key);
                if source.is_empty() || source.ends_with('/') {
                    concat(&[source, key])
                } else {
                    concat(&[source, "/", key])
                }
            }
            Location::File { below_input: false } => self.source.to_string(),
            Location::Path(path) => path.display().to_string(),
            Location::S3 { bucket, prefix } => concat(&["s3://", bucket, "/", prefix, &self.key]),
            Location::Lookup { event_name, .. } => format!("lookup:{event_name}"),
        }
    }

    /// The path of a local file; `None` for other objects.
    pub fn path(&self) -> Option<PathBuf> {
        match &self.location {
            Location::File { below_input: true } => Some(Path::new(&*self.source).join(&*self.key)),
            Location::File { below_input: false } => Some(PathBuf::from(&*self.source)),
            Location::Path(path) => Some(path.clone()),
            Location::S3 { .. } | Location::Lookup { .. } => None,
        }
    }
}

/// `parts` joined, in one allocation of the right size (`format!` grows
/// its string as it goes).
fn concat(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        joined.push_str(part);
    }
    joined
}

/// An object as a listing reports it, before it is judged.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// See [`ObjectRef::version`].
    pub version: Option<String>,
}

/// Why a source could not be listed at all (the run stops with exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: cannot read")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("trail:{name}: cannot find the trail's bucket: {message}")]
    Trail { name: String, message: String },
    #[error("lookup: LookupEvents for {name} failed: {message}")]
    Lookup { name: String, message: String },
    #[error("{url}: cannot list: {message}")]
    S3List { url: String, message: String },
    #[error("{0:?} is not an S3 URL; write s3://bucket or s3://bucket/prefix/")]
    BadS3Url(String),
}

/// The files of a local input, in key order, listed as they are asked for:
/// a folder is read when the walk reaches it, so a trail of any size is
/// never held whole, and its listing runs alongside the reading of the
/// files listed before. Each [`Named`] file still has to be [`Named::stat`]ed
/// (by the worker that reads it, in parallel with the others).
pub struct Listing {
    source: Arc<str>,
    below_input: bool,
    /// The folders being walked, the innermost last, each with its entries
    /// not yet handed out.
    open: Vec<Folder>,
    /// A single-file input, until it is handed out.
    single: Option<Named>,
    /// A folder not to walk: where this run writes its report (see
    /// [`Listing::pass_over`]), by device and inode.
    passed_over: Option<(u64, u64)>,
}

/// A folder being walked: its key, its entries in reverse key order (the
/// next one last), and the folder itself, open, for its files to be opened
/// relative to it.
struct Folder {
    prefix: String,
    /// Whether the key names the folder exactly: its path is UTF-8.
    exact: bool,
    entries: Vec<Entry>,
    open: Option<Arc<OpenFolder>>,
}

/// A folder's entry: its name (made readable if it is not UTF-8), the
/// entry, its kind, and whether the name is exact.
type Entry = (String, std::fs::DirEntry, std::fs::FileType, bool);

/// A file as listed: its key and path, before its size and time are known.
#[derive(Debug)]
pub struct Named {
    key: String,
    place: Place,
    /// Whether its path is UTF-8, which `key` then names exactly.
    exact: bool,
}

/// Where a listed file is.
#[derive(Debug)]
enum Place {
    /// Its entry in its folder's listing, which stats it relative to the
    /// open folder (no walk of the whole path), and the folder, open. Its
    /// path is made from the entry only when asked for, which is rarely.
    Entry(std::fs::DirEntry, Option<Arc<OpenFolder>>),
    /// A link (followed to a file; a link to a folder is not an object) or
    /// a single-file input, by its path.
    Path(PathBuf),
}

/// A folder held open while its files are read: a file is opened by its
/// name in it, without a walk of its whole path from the root. Reading the
/// 28,575 files of the harness's small-object corpus (4 KB each, eight
/// folders deep) on one core took 193 ms so, against 234 ms by path.
#[derive(Debug)]
pub struct OpenFolder {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
    #[cfg(not(target_os = "linux"))]
    path: PathBuf,
}

impl OpenFolder {
    #[cfg(target_os = "linux")]
    fn open(path: &Path) -> std::io::Result<OpenFolder> {
        use std::os::unix::fs::OpenOptionsExt;
        // A handle on the folder only (`O_PATH`): no reading of it, and no
        // permission needed beyond reaching it.
        let folder = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(path)?;
        Ok(OpenFolder { fd: folder.into() })
    }

    #[cfg(not(target_os = "linux"))]
    fn open(path: &Path) -> std::io::Result<OpenFolder> {
        Ok(OpenFolder {
            path: path.to_path_buf(),
        })
    }

    /// Opens the file `name` in this folder for reading.
    #[cfg(target_os = "linux")]
    fn open_file(&self, name: &std::ffi::OsStr) -> std::io::Result<std::fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: the folder's descriptor is open while `self` lives, and
        // `name` is a NUL-terminated string that outlives the call.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    }

    #[cfg(not(target_os = "linux"))]
    fn open_file(&self, name: &std::ffi::OsStr) -> std::io::Result<std::fs::File> {
        std::fs::File::open(self.path.join(name))
    }
}

/// How to open a listed file: by its name in its open folder.
#[derive(Debug)]
pub struct FileAt {
    folder: Arc<OpenFolder>,
    name: std::ffi::OsString,
}

impl FileAt {
    /// Opens the file for reading.
    pub fn open(&self) -> std::io::Result<std::fs::File> {
        self.folder.open_file(&self.name)
    }
}

impl Listing {
    /// Starts listing `input`: a folder (walked recursively) or one file.
    pub fn open(input: &str) -> Result<Listing, SourceError> {
        let root = Path::new(input);
        let meta = std::fs::metadata(root).map_err(|e| io_err(root, e))?;
        let mut listing = Listing {
            source: Arc::from(input),
            below_input: !meta.is_file(),
            open: Vec::new(),
            single: None,
            passed_over: None,
        };
        if meta.is_file() {
            let key = root
                .file_name()
                .map_or_else(|| input.to_string(), |n| n.to_string_lossy().into_owned());
            listing.single = Some(Named {
                key,
                place: Place::Path(root.to_path_buf()),
                // The input is a `str`.
                exact: true,
            });
        } else {
            listing.enter(root.to_path_buf(), String::new(), true)?;
        }
        Ok(listing)
    }

    /// The input as the user named it.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// What the workers need to [`Named::stat`] this listing's files.
    pub fn info(&self) -> ListingInfo {
        ListingInfo {
            source: self.source.clone(),
            below_input: self.below_input,
        }
    }

    /// Does not walk `folder` if the walk meets it: the report being
    /// written, when it lies inside the input, is not part of the trail.
    /// (Folders read before this is called were read before it existed.)
    pub fn pass_over(&mut self, folder: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            self.passed_over = std::fs::metadata(folder).ok().map(|m| (m.dev(), m.ino()));
        }
        #[cfg(not(unix))]
        let _ = folder;
    }

    /// Whether the folder entry `entry` is the one to pass over: its inode
    /// comes with the listing, its device only from a stat (made only when
    /// the inode is the same).
    fn passes_over(&self, entry: &std::fs::DirEntry) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirEntryExt, MetadataExt};
            self.passed_over.is_some_and(|(dev, ino)| {
                entry.ino() == ino && entry.metadata().is_ok_and(|m| m.dev() == dev)
            })
        }
        #[cfg(not(unix))]
        {
            let _ = entry;
            false
        }
    }

    /// Reads the folder `dir` (whose key is `prefix`, `exact` when it names
    /// the folder exactly) and puts it on top.
    fn enter(&mut self, dir: PathBuf, prefix: String, exact: bool) -> Result<(), SourceError> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            // The kind comes with the folder's listing: no `stat` needed.
            let kind = entry.file_type().map_err(|e| io_err(&entry.path(), e))?;
            if kind.is_dir() && self.passes_over(&entry) {
                continue;
            }
            let (mut name, exact) = match entry.file_name().into_string() {
                Ok(name) => (name, true),
                Err(name) => (name.to_string_lossy().into_owned(), false),
            };
            // Sorted with a `/` after a folder's name, the walk meets keys in
            // the order of their full text ("a-b" before "a/c").
            if kind.is_dir() {
                name.push('/');
            }
            entries.push((name, entry, kind, exact));
        }
        entries.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        // Without it (it cannot fail where the folder could be listed), its
        // files are opened by their paths.
        let open = OpenFolder::open(&dir).ok().map(Arc::new);
        self.open.push(Folder {
            prefix,
            exact,
            entries,
            open,
        });
        Ok(())
    }
}

impl Iterator for Listing {
    type Item = Result<Named, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(single) = self.single.take() {
            return Some(Ok(single));
        }
        loop {
            let folder = self.open.last_mut()?;
            let Some((mut name, entry, kind, exact)) = folder.entries.pop() else {
                self.open.pop();
                continue;
            };
            if kind.is_dir() {
                name.pop();
            }
            let key = if folder.prefix.is_empty() {
                name
            } else {
                concat(&[&folder.prefix, "/", &name])
            };
            let exact = exact && folder.exact;
            if !kind.is_dir() {
                // A link is statted (and followed) by its path.
                let place = if kind.is_symlink() {
                    Place::Path(entry.path())
                } else {
                    Place::Entry(entry, folder.open.clone())
                };
                return Some(Ok(Named { key, place, exact }));
            }
            if let Err(e) = self.enter(entry.path(), key, exact) {
                return Some(Err(e));
            }
        }
    }
}

impl Named {
    /// Its path.
    fn path(&self) -> PathBuf {
        match &self.place {
            Place::Entry(entry, _) => entry.path(),
            Place::Path(path) => path.clone(),
        }
    }

    /// How to open the file without walking its path, when it was listed
    /// in a folder (not a link or a single-file input).
    pub fn at(&self) -> Option<FileAt> {
        let Place::Entry(entry, Some(folder)) = &self.place else {
            return None;
        };
        Some(FileAt {
            folder: folder.clone(),
            name: entry.file_name(),
        })
    }

    /// Whether its folder's listing says it is a regular file (not a link,
    /// folder, pipe or device), without asking the file system again on
    /// most: only a regular file may be opened before [`Named::stat`], since
    /// opening a pipe waits for a writer.
    pub fn is_plain_file(&self) -> bool {
        match &self.place {
            Place::Entry(entry, _) => entry.file_type().is_ok_and(|t| t.is_file()),
            Place::Path(_) => false,
        }
    }

    /// Reads the file's size and time and judges it by its key; `None` when
    /// it is not a file (a link to a folder, a socket). With `open`, the
    /// file already opened, they are read from it, without another lookup
    /// of its name.
    pub fn stat(
        self,
        listing: &ListingInfo,
        filter: &Filter,
        open: Option<&std::fs::File>,
    ) -> Result<Option<ObjectRef>, SourceError> {
        // Links to files are followed; links to folders are not (no cycles).
        let meta = match (&self.place, open) {
            (_, Some(file)) => file.metadata(),
            (Place::Entry(entry, _), None) => entry.metadata(),
            (Place::Path(path), None) => std::fs::metadata(path),
        }
        .map_err(|e| io_err(&self.path(), e))?;
        if !meta.is_file() {
            return Ok(None);
        }
        let location = if !self.exact {
            Location::Path(self.path())
        } else {
            Location::File {
                below_input: listing.below_input,
            }
        };
        let l = listed(self.key, &meta);
        Ok(Some(ObjectRef::found(
            &listing.source,
            l.key,
            location,
            l.size,
            l.version,
            filter,
        )))
    }
}

/// What [`Named::stat`] needs of its listing, shared by the workers.
#[derive(Debug, Clone)]
pub struct ListingInfo {
    source: Arc<str>,
    below_input: bool,
}

fn io_err(path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Every object under `input` at once, each marked read or skip.
#[cfg(test)]
pub fn list(input: &str, filter: &Filter) -> Result<Vec<ObjectRef>, SourceError> {
    let listing = Listing::open(input)?;
    let info = listing.info();
    listing
        .filter_map(|named| named.and_then(|n| n.stat(&info, filter, None)).transpose())
        .collect()
}

/// A local file as listed: its modification time stands for its version.
fn listed(key: String, meta: &std::fs::Metadata) -> Listed {
    let version = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| {
            // `format!` would grow the string as it writes: one allocation.
            let mut version = String::with_capacity(32);
            let _ = write!(version, "mtime {}.{:09}", d.as_secs(), d.subsec_nanos());
            version
        });
    Listed {
        key,
        size: meta.len(),
        version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_meets_keys_in_the_order_of_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // '-' < '/' < '0': the folder's files come between its neighbours.
        for key in ["a0.json.gz", "a/c.json.gz", "a-b.json.gz", "a/b/d.json.gz"] {
            let path = root.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"").unwrap();
        }
        let keys: Vec<String> = list(root.to_str().unwrap(), &Filter::default())
            .unwrap()
            .iter()
            .map(|o| o.key.to_string())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(
            keys,
            ["a-b.json.gz", "a/b/d.json.gz", "a/c.json.gz", "a0.json.gz"]
        );
    }

    #[test]
    fn lists_recursively_in_key_order_and_marks_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let trail = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/05/26";
        let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/05/26";
        for (folder, file) in [
            (
                trail,
                "111122223333_CloudTrail_us-east-1_20260526T0805Z_b.json.gz",
            ),
            (
                trail,
                "111122223333_CloudTrail_us-east-1_20260526T0800Z_a.json.gz",
            ),
            (
                digest,
                "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260526T080000Z.json.gz",
            ),
            ("", "notes.txt"),
        ] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
            std::fs::write(root.join(folder).join(file), b"x").unwrap();
        }
        let listed = list(root.to_str().unwrap(), &Filter::default()).unwrap();
        let keys: Vec<_> = listed
            .iter()
            .map(|o| (o.key.rsplit('/').next().unwrap(), o.skip.is_some()))
            .collect();
        assert_eq!(
            keys,
            [
                (
                    "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260526T080000Z.json.gz",
                    true
                ),
                (
                    "111122223333_CloudTrail_us-east-1_20260526T0800Z_a.json.gz",
                    false
                ),
                (
                    "111122223333_CloudTrail_us-east-1_20260526T0805Z_b.json.gz",
                    false
                ),
                ("notes.txt", true),
            ]
        );
        assert!(listed[0].skip.as_deref().unwrap().contains("digest"));
        // Each is found again from its source and key, however the input
        // folder was written.
        let with_slash = format!("{}/", root.display());
        for input in [root.to_str().unwrap(), &with_slash] {
            for o in list(input, &Filter::default()).unwrap() {
                assert_eq!(o.location, Location::File { below_input: true });
                assert_eq!(std::fs::read(o.path().unwrap()).unwrap(), b"x");
                assert_eq!(o.display(), o.path().unwrap().display().to_string());
            }
        }
        // A relative input, and the current folder, are named as typed.
        let mut o = list(&with_slash, &Filter::default()).unwrap()[0].clone();
        for (source, shown) in [("logs", "logs/k"), (".", "./k"), ("", "k"), ("a/", "a/k")] {
            (o.source, o.key) = (source.into(), "k".into());
            assert_eq!(o.display(), shown);
            assert_eq!(o.path().unwrap().display().to_string(), shown);
        }
        // A single file is its own input.
        let file = root.join("notes.txt");
        let single = list(file.to_str().unwrap(), &Filter::default()).unwrap();
        assert_eq!(&*single[0].key, "notes.txt");
        assert_eq!(single[0].path().unwrap(), file);
        assert_eq!(single[0].display(), file.display().to_string());
    }

    #[test]
    fn a_listed_file_is_opened_in_its_open_folder_not_by_its_path() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("trail");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f.json.gz"), b"deep").unwrap();
        std::fs::write(root.join("a/top.json.gz"), b"top").unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"trail-\xff.json.gz");
        std::fs::write(root.join("a").join(odd), b"odd").unwrap();
        std::os::unix::fs::symlink(root.join("a/top.json.gz"), root.join("link.json.gz")).unwrap();
        let named: Vec<Named> = Listing::open(root.to_str().unwrap())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // The walk has left every folder; their files are read after a
        // rename of the whole input, so not by the paths listed.
        let moved = dir.path().join("moved");
        std::fs::rename(&root, &moved).unwrap();
        let read = |n: &Named| {
            n.at().map(|at| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut at.open().unwrap(), &mut bytes).unwrap();
                bytes
            })
        };
        let found: Vec<(&str, Option<Vec<u8>>)> =
            named.iter().map(|n| (n.key.as_str(), read(n))).collect();
        assert_eq!(
            found,
            [
                ("a/b/f.json.gz", Some(b"deep".to_vec())),
                ("a/top.json.gz", Some(b"top".to_vec())),
                ("a/trail-\u{fffd}.json.gz", Some(b"odd".to_vec())),
                // A link is followed by its path, like a single-file input.
                ("link.json.gz", None),
            ]
        );
        assert!(!named[0].path().exists());
        let single = Listing::open(moved.join("a/top.json.gz").to_str().unwrap())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert!(single.at().is_none());
    }

    #[test]
    fn a_file_whose_name_is_not_utf8_keeps_its_exact_path() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"trail-\xff.json.gz");
        std::fs::write(dir.path().join(name), b"bytes").unwrap();
        // A file named in UTF-8 in a folder that is not.
        let folder = std::ffi::OsStr::from_bytes(b"day-\xfe");
        std::fs::create_dir(dir.path().join(folder)).unwrap();
        std::fs::write(dir.path().join(folder).join("ok.json.gz"), b"more").unwrap();
        let listed = list(dir.path().to_str().unwrap(), &Filter::default()).unwrap();
        let keys: Vec<&str> = listed.iter().map(|o| &*o.key).collect();
        assert_eq!(keys, ["day-\u{fffd}/ok.json.gz", "trail-\u{fffd}.json.gz"]);
        for (object, path, bytes) in [
            (
                &listed[0],
                dir.path().join(folder).join("ok.json.gz"),
                &b"more"[..],
            ),
            (&listed[1], dir.path().join(name), &b"bytes"[..]),
        ] {
            assert_eq!(object.location, Location::Path(path.clone()));
            assert_eq!(object.path().unwrap(), path);
            assert_eq!(std::fs::read(path).unwrap(), bytes);
        }
    }

    #[test]
    fn links_to_files_are_followed_and_links_to_folders_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("input");
        let deep = root.join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("x.json.gz"), b"123").unwrap();
        std::fs::write(root.join("a/y.json.gz"), b"12345").unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("z.json.gz"), b"1").unwrap();
        std::os::unix::fs::symlink(elsewhere.join("z.json.gz"), root.join("a/b/z.json.gz"))
            .unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("folder-link")).unwrap();
        let listed = list(root.to_str().unwrap(), &Filter::default()).unwrap();
        let found: Vec<_> = listed.iter().map(|o| (&*o.key, o.size)).collect();
        assert_eq!(
            found,
            [
                ("a/b/c/x.json.gz", 3),
                ("a/b/z.json.gz", 1),
                ("a/y.json.gz", 5)
            ]
        );
    }

    #[test]
    fn a_broken_link_stops_the_listing_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let link = dir.path().join("sub/gone.json.gz");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &link).unwrap();
        let err = list(dir.path().to_str().unwrap(), &Filter::default()).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: cannot read", link.display()));
    }

    #[test]
    fn missing_input_is_an_error_naming_it() {
        let err = list("/no/such/folder", &Filter::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("/no/such/folder: cannot read"),
            "{err}"
        );
    }
}
