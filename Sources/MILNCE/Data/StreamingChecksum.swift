// A fast 64-bit checksum over a stream of bytes fed in pieces of any size, for detecting
// corrupted index files (not a cryptographic hash).

// MARK: - Checksum

/// A running 64-bit checksum. Each 8-byte word goes through a step that is a bijection of the
/// state for a fixed word and of the word for a fixed state, so changing any one word (and so any
/// single byte) of the input always changes the result. The result does not depend on how the
/// input is cut into pieces.
struct StreamingChecksum {
    private var state: UInt64 = 0x243F_6A88_85A3_08D3
    private var pending: UInt64 = 0
    private var pendingCount = 0
    private var length: UInt64 = 0

    @inline(__always)
    private static func step(_ state: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = state ^ (word &* 0x9E37_79B9_7F4A_7C15)
        return ((mixed << 31) | (mixed >> 33)) &* 0xBF58_476D_1CE4_E5B9
    }

    /// Adds `bytes` to the stream.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        length &+= UInt64(count)
        var index = 0
        while pendingCount > 0 && index < count {
            pending |= UInt64(bytes[index]) << UInt64(8 * pendingCount)
            pendingCount += 1
            index += 1
            if pendingCount == 8 {
                state = StreamingChecksum.step(state, pending)
                pending = 0
                pendingCount = 0
            }
        }
        var current = state
        while index + 8 <= count {
            current = StreamingChecksum.step(current, UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)))
            index += 8
        }
        state = current
        while index < count {
            pending |= UInt64(bytes[index]) << UInt64(8 * pendingCount)
            pendingCount += 1
            index += 1
        }
    }

    /// The checksum of everything added so far.
    func finalize() -> UInt64 {
        var result = state
        if pendingCount > 0 { result = StreamingChecksum.step(result, pending) }
        result = StreamingChecksum.step(result, length)
        result ^= result >> 29
        result &*= 0x94D0_49BB_1331_11EB
        result ^= result >> 32
        return result
    }

    /// The checksum of `bytes`.
    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var checksum = StreamingChecksum()
        checksum.update(bytes)
        return checksum.finalize()
    }
}
