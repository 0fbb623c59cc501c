import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks, before a command does any work, that it can write where it was told to:
/// a run that trains or measures for an hour and then cannot write its results has
/// lost the hour.
///
/// Each check resolves the path against the working directory, refuses an empty
/// path, creates missing directories (as the later atomic write would), and proves
/// the directory writable by creating and removing a probe file in it — permission
/// bits alone do not tell (read-only mounts, `/proc`, root). Errors name the option.
public enum OutputPath {
    /// `path` made absolute and standardised; throws for an empty path.
    public static func resolve(_ path: String, option: String) throws -> String {
        guard !path.isEmpty else { throw ReportError("\(option) is empty: give a file or directory name") }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// A directory that will hold result files: created with its parents if missing,
    /// refused if it is not a directory or cannot be written. Returns the absolute path.
    @discardableResult
    public static func prepareDirectory(_ path: String, option: String) throws -> String {
        let absolute = try resolve(path, option: option)
        try makeWritableDirectory(absolute, option: option, shown: path)
        return absolute
    }

    /// A result file: refused if it names a directory or an existing file that cannot be
    /// replaced; its directory is created if missing and must be writable. Returns the absolute path.
    @discardableResult
    public static func checkFile(_ path: String, option: String) throws -> String {
        let absolute = try resolve(path, option: option)
        var isDirectory: ObjCBool = false
        if path.hasSuffix("/") || (FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw ReportError("\(option) \(path) is a directory: give a file name")
        }
        let directory = (absolute as NSString).deletingLastPathComponent
        try makeWritableDirectory(directory, option: option, shown: path)
        return absolute
    }

    /// Checks every non-nil `(option, path)` pair with ``checkFile(_:option:)``.
    public static func checkFiles(_ files: [(option: String, path: String?)]) throws {
        for case let (option, path?) in files { try checkFile(path, option: option) }
    }

    static func makeWritableDirectory(_ directory: String, option: String, shown: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ReportError("\(option) \(shown): \(directory) exists and is not a directory")
            }
        } else if mkdirParents(directory) != 0 {
            throw ReportError("\(option) \(shown): cannot create directory \(directory): \(String(cString: strerror(errno)))")
        }
        // Unique per process: ranks of one job may probe the same directory at once.
        let probe = directory + "/.layerpar-write-probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw ReportError("\(option) \(shown): cannot write in \(directory): \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
    }

    /// `mkdir -p` returning 0 or -1 with `errno` set (FileManager's error hides errno).
    static func mkdirParents(_ directory: String) -> Int32 {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return 0 }
            errno = ENOTDIR
            return -1
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if parent != directory && !parent.isEmpty && mkdirParents(parent) != 0 { return -1 }
        if mkdir(directory, 0o777) == 0 || errno == EEXIST { return 0 }
        return -1
    }
}
