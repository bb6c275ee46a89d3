import CTorch
import FoundationEssentials

/// A c10d key-value store through which the processes of a distributed job meet.
public final class Store {
    let handle: OpaquePointer

    /// A TCP store at `host:port`; the process with `isServer` (rank 0) hosts it. Waits up to
    /// `timeoutSeconds` for the server.
    public init(host: String, port: Int, worldSize: Int, isServer: Bool, timeoutSeconds: Double = 300) throws {
        var result: OpaquePointer?
        try check(ct_store_tcp_new(host, Int32(port), Int32(worldSize), isServer, Int64(timeoutSeconds * 1000), &result),
                  "connecting to the TCP store at \(host):\(port)")
        handle = result!
    }

    /// A store in a file that every process names (on a shared file system for several nodes).
    public init(file path: String, worldSize: Int) throws {
        var result: OpaquePointer?
        try check(ct_store_file_new(path, Int32(worldSize), &result), "opening the file store \(path)")
        handle = result!
    }

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        ct_store_free(handle)
    }

    /// A view of this store whose keys all carry `prefix` (keeps a job's keys apart from others'
    /// in a shared store, such as torchrun's).
    public func prefixed(_ prefix: String) throws -> Store {
        try withExtendedLifetime(self) {
            var result: OpaquePointer?
            try check(ct_store_prefixed(handle, prefix, &result), "prefixing the store")
            return Store(handle: result!)
        }
    }

    /// Sets `key` to `value`.
    public func set(_ key: String, _ value: [UInt8]) throws {
        try withExtendedLifetime(self) {
            try check(ct_store_set(handle, key, value, Int64(value.count)), "setting \(key) in the store")
        }
    }

    /// The value of `key`, waiting for it to be set (up to the store's timeout).
    public func get(_ key: String) throws -> [UInt8] {
        try withExtendedLifetime(self) {
            var buffer: UnsafeMutableRawPointer?
            var count: Int64 = 0
            try check(ct_store_get(handle, key, &buffer, &count), "reading \(key) from the store")
            defer { ct_free(buffer) }
            return [UInt8](UnsafeRawBufferPointer(start: buffer, count: Int(count)))
        }
    }

    /// Adds `amount` to the integer at `key` (created at 0) and returns the new value.
    @discardableResult
    public func add(_ key: String, _ amount: Int) throws -> Int {
        try withExtendedLifetime(self) {
            var result: Int64 = 0
            try check(ct_store_add(handle, key, Int64(amount), &result), "adding to \(key) in the store")
            return Int(result)
        }
    }
}

/// The communication backend of a process group.
public enum DistributedBackend: String, Sendable, CaseIterable {
    /// CPU tensors, over TCP.
    case gloo
    /// CUDA tensors, over NVLink/InfiniBand/TCP.
    case nccl
}

/// How an all-reduce combines the ranks' tensors.
public enum ReduceOperation: Int32, Sendable {
    case sum = 0, average = 1, product = 2, minimum = 3, maximum = 4
}

/// A group of processes (ranks) running collectives through PyTorch's c10d (Gloo or NCCL).
///
/// Every collective waits for completion and throws `TorchError` if it fails or times out, e.g.
/// when another rank has died, so that no rank hangs forever.
public final class ProcessGroup {
    let handle: OpaquePointer
    /// This process's rank.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    /// The backend.
    public let backend: DistributedBackend
    /// The store the group was formed over (kept alive with the group).
    public let store: Store

    /// Joins the group as `rank` of `size`; returns once every rank has joined.
    public init(store: Store, rank: Int, size: Int, backend: DistributedBackend, timeoutSeconds: Double = 1800) throws {
        var result: OpaquePointer?
        try withExtendedLifetime(store) {
            try check(ct_process_group_new(store.handle, Int32(rank), Int32(size), backend.rawValue,
                                           Int64(timeoutSeconds * 1000), &result),
                      "forming the \(backend.rawValue) process group as rank \(rank) of \(size)")
        }
        handle = result!
        self.rank = rank
        self.size = size
        self.backend = backend
        self.store = store
    }

    deinit {
        ct_process_group_free(handle)
    }

    /// Combines each tensor across ranks, in place.
    public func allReduce(_ tensors: [Tensor], _ operation: ReduceOperation = .sum) throws {
        guard !tensors.isEmpty else { return }
        try withExtendedLifetime((self, tensors)) {
            let handles: [OpaquePointer?] = tensors.map { $0.handle }
            try check(ct_all_reduce(handle, handles, Int64(handles.count), operation.rawValue), "all-reduce")
        }
    }

    /// Copies each tensor of rank `root` into the same tensor of every other rank, in place.
    public func broadcast(_ tensors: [Tensor], from root: Int = 0) throws {
        guard !tensors.isEmpty else { return }
        try withExtendedLifetime((self, tensors)) {
            let handles: [OpaquePointer?] = tensors.map { $0.handle }
            try check(ct_broadcast(handle, handles, Int64(handles.count), Int32(root)), "broadcast")
        }
    }

    /// Every rank's `tensor`, in rank order (each of the same shape as `tensor`).
    public func allGather(_ tensor: Tensor) throws -> [Tensor] {
        let input = try tensor.contiguous()
        let outputs = try (0..<size).map { _ in try input.zerosLike() }
        try withExtendedLifetime((self, input, outputs)) {
            let handles: [OpaquePointer?] = outputs.map { $0.handle }
            try check(ct_all_gather(handle, handles, Int64(handles.count), input.handle), "all-gather")
        }
        return outputs
    }

    /// Waits until every rank has reached this point.
    public func barrier() throws {
        try withExtendedLifetime(self) {
            try check(ct_barrier(handle), "barrier")
        }
    }
}
