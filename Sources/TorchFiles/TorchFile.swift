import FoundationEssentials

// MARK: - PyTorch checkpoints

/// PyTorch checkpoint files (`torch.save` / `torch.load`), read and written in Swift.
///
/// Reading understands both formats PyTorch has written since version 0.4: the zip archive of
/// PyTorch 1.6 and later (the default), and the legacy format (`_use_new_zipfile_serialization=
/// False`, and every file written before 1.6), told apart by their first bytes. Only data is
/// read: Python objects other than containers, numbers, strings and tensors are refused, and no
/// code is ever run. A corrupt, truncated or hostile file gives a `TorchFileError`, never a crash,
/// and no length field in a file makes the reader allocate more than the file could hold.
///
/// Writing produces the zip format exactly as `torch.save` does, which Python reads with
/// `torch.load(path, weights_only=True)`.
public enum TorchFile {
    /// The action named in errors while reading.
    static let readAction = "reading the PyTorch checkpoint"
    /// The action named in errors while writing.
    static let writeAction = "writing the PyTorch checkpoint"

    // MARK: Loading

    /// The object saved in the checkpoint at `url` (zip or legacy format).
    ///
    /// - Throws: `TorchFileError` when the file cannot be read, is not a PyTorch checkpoint, is
    ///   corrupt or truncated, or holds something other than checkpoint data.
    public static func load(contentsOf url: URL) throws -> PickleValue {
        try withFileErrors(readAction, path: url.path) {
            try decode(try readContents(of: url))
        }
    }

    /// The object saved in a checkpoint held in memory.
    ///
    /// - Throws: `TorchFileError` as `load(contentsOf:)` does (without a path).
    public static func load(data: Data) throws -> PickleValue {
        try withFileErrors(readAction, path: nil) { try decode(data) }
    }

    private static func decode(_ data: Data) throws -> PickleValue {
        try data.withUnsafeBytes { bytes -> PickleValue in
            if bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 0x03 || bytes[2] == 0x05 {
                return try ZipCheckpoint.load(bytes)
            }
            if bytes.count >= 262, Array(bytes[257 ..< 262]) == Array("ustar".utf8) {
                throw FormatFailure("this is a checkpoint in the tar-based format of PyTorch before 0.4, which is not "
                                    + "supported; load it with an old PyTorch and save it again")
            }
            if bytes.first == 0x80 {
                return try LegacyCheckpoint.load(bytes)
            }
            let start = bytes.prefix(8).map { hexadecimal($0, digits: 2) }.joined(separator: " ")
            throw FormatFailure("the file is not a PyTorch checkpoint: it is neither a zip archive nor a pickle "
                                + "(it starts with \(start.isEmpty ? "nothing; it is empty" : start))", at: 0)
        }
    }

    // MARK: Saving

    /// Writes `value` to `url` as `torch.save` would (zip format, pickle protocol 2, storages
    /// uncompressed and 64-byte aligned, little-endian), replacing any file there atomically: the
    /// data goes to a temporary file in the same folder that is renamed into place when complete.
    ///
    /// Tensors sharing one `Storage` object are written as one storage, so that they share it
    /// again when Python loads the file. Storages are written as CPU storages.
    ///
    /// - Throws: `TorchFileError` when the value cannot be expressed (a list as a dict key, a
    ///   tensor view outside its storage, nesting deeper than 200 levels) or the file cannot be
    ///   written.
    public static func save(_ value: PickleValue, to url: URL) throws {
        try save(value, to: url, alwaysZip64: false)
    }

    /// `save(_:to:)`, optionally with ZIP64 records even for a small file (to test them).
    static func save(_ value: PickleValue, to url: URL, alwaysZip64: Bool) throws {
        try withFileErrors(writeAction, path: url.path) {
            var pickle = PickleWriter()
            try pickle.writeValue(value)
            let output = try OutputFile(destination: url)
            let archive = ZipArchiveWriter(output: output, alwaysZip64: alwaysZip64)
            let folder = archiveName(for: url)
            try archive.addEntry(named: "\(folder)/data.pkl", bytes: pickle.bytes)
            try archive.addEntry(named: "\(folder)/.format_version", bytes: Array("1".utf8))
            try archive.addEntry(named: "\(folder)/.storage_alignment", bytes: Array(String(ZipArchiveWriter.alignment).utf8))
            try archive.addEntry(named: "\(folder)/byteorder", bytes: Array("little".utf8))
            for (key, storage) in pickle.storages.enumerated() {
                try storage.bytes.withUnsafeBytes { try archive.addEntry(named: "\(folder)/data/\(key)", contents: $0) }
            }
            try archive.addEntry(named: "\(folder)/version", bytes: Array("3\n".utf8))
            try archive.addEntry(named: "\(folder)/.data/serialization_id",
                                 bytes: serializationID(pickle: pickle.bytes, storages: pickle.storages))
            try archive.finish()
            try output.commit()
        }
    }

    /// The archive's top folder: the file name without its extension, as PyTorch names it.
    static func archiveName(for url: URL) -> String {
        let stem = url.deletingPathExtension().lastPathComponent
        let safe = String(stem.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil || "-_.".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
        return safe.isEmpty || safe.hasPrefix(".") ? "archive" : safe
    }

    /// The 40-digit identifier PyTorch writes in `.data/serialization_id`, derived from the
    /// contents (a 64-bit FNV-1a hash of the pickle and the storages' CRC-32s, twice with two
    /// offsets), so that saving the same value twice gives the same bytes.
    private static func serializationID(pickle: [UInt8], storages: [Storage]) -> [UInt8] {
        var digests = pickle
        for storage in storages {
            withUnsafeBytes(of: CRC32.checksum(storage.bytes).littleEndian) { digests += $0 }
            withUnsafeBytes(of: UInt64(storage.bytes.count).littleEndian) { digests += $0 }
        }
        func fnv1a(_ bytes: [UInt8], offset: UInt64) -> UInt64 {
            bytes.reduce(offset) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        }
        let high = fnv1a(digests, offset: 0xcbf2_9ce4_8422_2325) % 10_000_000_000_000_000_000
        let low = fnv1a(digests, offset: 0x8422_2325_cbf2_9ce4) % 10_000_000_000_000_000_000
        let text = String(repeating: "0", count: 20 - String(high).count) + String(high)
            + String(repeating: "0", count: 20 - String(low).count) + String(low)
        return Array(text.utf8)
    }
}

// MARK: - Zip format

/// Reading the zip format of PyTorch 1.6 and later.
enum ZipCheckpoint {
    static func load(_ bytes: UnsafeRawBufferPointer) throws -> PickleValue {
        let archive = try ZipArchiveReader(bytes)
        guard let first = archive.entries.first else {
            throw FormatFailure("the zip archive is empty, so it is not a PyTorch checkpoint")
        }
        guard let slash = first.name.firstIndex(of: "/") else {
            throw FormatFailure("the zip entry \(first.name) is not inside a folder; a PyTorch checkpoint keeps its "
                                + "entries in one top folder")
        }
        let prefix = String(first.name[...slash])
        func entry(_ name: String) -> ZipArchiveReader.Entry? { archive.entry(named: prefix + name) }

        guard let pickleEntry = entry("data.pkl") else {
            if entry("constants.pkl") != nil || archive.entries.contains(where: { $0.name.hasPrefix(prefix + "code/") }) {
                throw FormatFailure("this is a TorchScript archive (written by torch.jit.save), not a checkpoint of data; "
                                    + "load it with torch.jit.load")
            }
            throw FormatFailure("the zip archive has no \(prefix)data.pkl, so it is not a PyTorch checkpoint")
        }
        var bigEndian = false
        if let orderEntry = entry("byteorder") {
            let order = String(decoding: try archive.contents(of: orderEntry), as: UTF8.self)
            switch order {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default:
                throw FormatFailure("the checkpoint's byte order is \"\(order.prefix(20))\", neither little nor big",
                                    at: orderEntry.dataOffset)
            }
        }

        var storages: [String: Storage] = [:]
        let pickle = try archive.contents(of: pickleEntry)
        let unpickler = Unpickler(bytes: pickle, fileOffset: pickleEntry.dataOffset) { reference, offset in
            let key = reference.key
            if let existing = storages[key] {
                guard existing.elementType == reference.elementType, existing.elementCount == reference.elementCount else {
                    throw FormatFailure("the storage \(key) is used both as \(existing.elementCount) \(existing.elementType) "
                                        + "elements and as \(reference.elementCount) \(reference.elementType) elements", at: offset)
                }
                return existing
            }
            guard reference.view == nil else {
                throw FormatFailure("the storage \(key) is a storage view, which only legacy checkpoints have", at: offset)
            }
            guard let dataEntry = entry("data/\(key)") else {
                throw FormatFailure("the storage \(key) has no data: the archive lacks \(prefix)data/\(key)", at: offset)
            }
            let size = reference.elementType.byteCount
            guard let byteCount = checkedProduct(reference.elementCount, size), byteCount == dataEntry.size else {
                throw FormatFailure("the storage \(key) should hold \(reference.elementCount) \(reference.elementType) "
                                    + "elements, but its entry has \(dataEntry.size) bytes", at: offset)
            }
            var data = try archive.contents(of: dataEntry).copiedBytes()
            if bigEndian { swapByteOrder(&data, elementSize: size) }
            let storage = Storage(key: key, elementType: reference.elementType, location: reference.location,
                                  elementCount: reference.elementCount, bytes: data)
            storages[key] = storage
            return storage
        }
        return try unpickler.load()
    }
}

// MARK: - Legacy format

/// Reading the format of PyTorch before 1.6: a sequence of pickles (magic number, protocol
/// version, system information, the object, the list of storage keys) followed by each storage's
/// element count (int64, little-endian) and bytes, in the order of that list.
enum LegacyCheckpoint {
    /// `0x1950a86a20f9469cfc6c` as little-endian two's complement bytes.
    static let magicNumber: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    /// The legacy format's protocol version.
    static let protocolVersion = 1001

    /// A storage whose bytes are copied from a root storage once that is read.
    private struct PendingView {
        var storage: Storage
        var root: Storage
        var offset: Int
    }

    static func load(_ bytes: UnsafeRawBufferPointer) throws -> PickleValue {
        var position = 0
        let noStorages: Unpickler.StorageResolver = { _, offset in
            throw FormatFailure("a header pickle of the legacy checkpoint refers to a storage", at: offset)
        }
        func nextPickle(_ resolve: @escaping Unpickler.StorageResolver) throws -> PickleValue {
            let unpickler = Unpickler(bytes: bytes, position: position, resolveStorage: resolve)
            let value = try unpickler.load()
            position = unpickler.position
            return value
        }

        let magic = try nextPickle(noStorages)
        guard case .bigInt(let number) = magic, number == magicNumber else {
            throw FormatFailure("the file is a pickle but does not start with PyTorch's magic number, so it is not a "
                                + "PyTorch checkpoint (a plain Python pickle is not loaded)", at: 0)
        }
        let versionOffset = position
        guard case .int(protocolVersion) = try nextPickle(noStorages) else {
            throw FormatFailure("the legacy checkpoint's protocol version is not \(protocolVersion)", at: versionOffset)
        }
        let informationOffset = position
        guard try nextPickle(noStorages).asDict != nil else {
            throw FormatFailure("the legacy checkpoint's system information is not a dict", at: informationOffset)
        }

        var storages: [String: Storage] = [:]
        var views: [String: PendingView] = [:]
        let result = try nextPickle { reference, offset in
            let root: Storage
            if let existing = storages[reference.key] {
                guard existing.elementType == reference.elementType, existing.elementCount == reference.elementCount else {
                    throw FormatFailure("the storage \(reference.key) is used with two different types or sizes", at: offset)
                }
                root = existing
            } else {
                root = Storage(key: reference.key, elementType: reference.elementType, location: reference.location,
                               elementCount: reference.elementCount, bytes: [])
                storages[reference.key] = root
            }
            guard let view = reference.view else { return root }
            if let existing = views[view.key] { return existing.storage }
            guard view.offset >= 0, view.elementCount >= 0, let end = checkedSum(view.offset, view.elementCount),
                  end <= root.elementCount else {
                throw FormatFailure("the storage view \(view.key) (\(view.elementCount) elements at \(view.offset)) lies "
                                    + "outside its storage of \(root.elementCount) elements", at: offset)
            }
            let storage = Storage(key: view.key, elementType: root.elementType, location: root.location,
                                  elementCount: view.elementCount, bytes: [])
            views[view.key] = PendingView(storage: storage, root: root, offset: view.offset)
            return storage
        }

        let keysOffset = position
        guard let keyValues = try nextPickle(noStorages).asList else {
            throw FormatFailure("the legacy checkpoint's list of storages is not a list", at: keysOffset)
        }
        var reader = ByteReader(bytes, position: position)
        var filled = Set<String>()
        for keyValue in keyValues {
            let key: String
            switch keyValue {
            case .string(let text): key = text
            case .int(let number): key = String(number)
            default: throw FormatFailure("the legacy checkpoint's list of storages holds \(keyValue), not a key", at: keysOffset)
            }
            guard let storage = storages[key] else {
                throw FormatFailure("the legacy checkpoint has data for storage \(key), which its object does not use",
                                    at: reader.position)
            }
            guard filled.insert(key).inserted else {
                throw FormatFailure("the legacy checkpoint lists storage \(key) twice", at: keysOffset)
            }
            let countOffset = reader.position
            let count = try reader.read(Int64.self, "the size of storage \(key)")
            guard count == Int64(storage.elementCount) else {
                throw FormatFailure("the data of storage \(key) has \(count) elements, but the object says "
                                    + "\(storage.elementCount)", at: countOffset)
            }
            guard let byteCount = checkedProduct(storage.elementCount, storage.elementType.byteCount),
                  byteCount <= reader.remaining else {
                throw FormatFailure("the data of storage \(key) needs \(storage.elementCount) \(storage.elementType) "
                                    + "elements, but the file ends after \(reader.remaining) bytes; it is truncated",
                                    at: countOffset)
            }
            storage.bytes = try reader.readSlice(byteCount, "the data of storage \(key)").copiedBytes()
        }
        if let missing = storages.keys.sorted().first(where: { !filled.contains($0) }) {
            throw FormatFailure("the legacy checkpoint has no data for storage \(missing)", at: reader.position)
        }
        for view in views.values {
            let size = view.root.elementType.byteCount
            let start = view.offset * size
            view.storage.bytes = Array(view.root.bytes[start ..< start + view.storage.elementCount * size])
        }
        return result
    }
}
