import Glibc

/// The paths of the regular files (symbolic links to files included) under `folder`, at any
/// depth, skipping names that start with `.` and not following links to folders; unsorted.
/// `nil` when `folder` cannot be listed.
public func regularFiles(under folder: String) -> [String]? {
    guard let directory = opendir(folder) else { return nil }
    defer { closedir(directory) }
    var files: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard !name.hasPrefix(".") else { continue }
        let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
        var link = stat()
        guard lstat(path, &link) == 0 else { continue }
        if (link.st_mode & S_IFMT) == S_IFDIR {
            files += regularFiles(under: path) ?? []
            continue
        }
        var target = stat()
        if stat(path, &target) == 0 && (target.st_mode & S_IFMT) == S_IFREG { files.append(path) }
    }
    return files
}

/// The size in bytes of the file at `path` (following links), or nil when it cannot be read.
public func fileSize(atPath path: String) -> Int? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return Int(info.st_size)
}
