import CTorch

/// A seedable random number generator for tensor sampling (`randn`, `randint`, dropout, ...),
/// whose state can be saved and restored for exact resumption.
public final class Generator {
    let handle: OpaquePointer

    /// A new generator for `device`, seeded with `seed`.
    public init(seed: UInt64, device: Device = .cpu) throws {
        var result: OpaquePointer?
        try check(ct_generator_new(device.typeCode, Int32(device.index), seed, &result),
                  "creating a generator on \(device)")
        handle = result!
    }

    deinit {
        ct_generator_free(handle)
    }

    /// Restarts the sequence from `seed`.
    public func reseed(_ seed: UInt64) throws {
        try withExtendedLifetime(self) {
            try check(ct_generator_set_seed(handle, seed), "seeding a generator")
        }
    }

    /// The full state (a uint8 tensor), to save in a checkpoint.
    public func state() throws -> Tensor {
        try withExtendedLifetime(self) {
            var result: OpaquePointer?
            try check(ct_generator_state(handle, &result), "reading a generator's state")
            return Tensor(owning: result!)
        }
    }

    /// Restores a state returned by `state()`.
    public func setState(_ state: Tensor) throws {
        try withExtendedLifetime((self, state)) {
            try check(ct_generator_set_state(handle, state.handle), "restoring a generator's state")
        }
    }

    /// Seeds libtorch's default generators on every device.
    public static func manualSeed(_ seed: UInt64) throws {
        try check(ct_manual_seed(seed), "seeding the default generators")
    }
}
