// A set of words keyed by their UTF-8 bytes: equality is byte (so code point) equality, as in
// Python's `dict`, never Swift's canonical equivalence. Lookups hash the bytes in place.

import FoundationEssentials
import Glibc

// MARK: - Word sets

/// A growable set of byte strings with open addressing; no allocation per lookup.
struct WordSet: Sendable {
    private var wordBytes: [UInt8] = []
    /// `wordEnds[i]` is where word i ends in `wordBytes`; it starts where word i - 1 ends.
    private var wordEnds: [Int] = []
    private var hashes: [UInt64] = []
    /// Word indices, -1 for an empty slot; the count is a power of two.
    private var slots: [Int] = [Int](repeating: -1, count: 16)

    /// The number of words.
    var count: Int { wordEnds.count }

    /// Whether the set holds `word`.
    func contains(_ word: UnsafeRawBufferPointer) -> Bool {
        find(word, hash: Tokenizer.hash(word)).index != nil
    }

    /// Whether the set holds `word` (its UTF-8 bytes).
    func contains(_ word: String) -> Bool {
        var word = word
        return word.withUTF8 { contains(UnsafeRawBufferPointer($0)) }
    }

    /// Adds `word`; returns false when it was already there.
    @discardableResult
    mutating func insert(_ word: UnsafeRawBufferPointer) -> Bool {
        let hash = Tokenizer.hash(word)
        let (index, slot) = find(word, hash: hash)
        if index != nil { return false }
        wordBytes.append(contentsOf: word)
        wordEnds.append(wordBytes.count)
        hashes.append(hash)
        slots[slot] = wordEnds.count - 1
        if wordEnds.count * 2 > slots.count { rehash(capacity: slots.count * 2) }
        return true
    }

    /// Adds every word of `other`.
    mutating func formUnion(_ other: WordSet) {
        other.wordBytes.withUnsafeBytes { bytes in
            var start = 0
            for end in other.wordEnds {
                insert(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                start = end
            }
        }
    }

    /// The words, in insertion order (invalid UTF-8 replaced by U+FFFD).
    var words: [String] {
        var result: [String] = []
        result.reserveCapacity(count)
        var start = 0
        for end in wordEnds {
            result.append(String(decoding: wordBytes[start..<end], as: UTF8.self))
            start = end
        }
        return result
    }

    /// The index of `word` if present, and the slot where it is or would go.
    private func find(_ word: UnsafeRawBufferPointer, hash: UInt64) -> (index: Int?, slot: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        return wordBytes.withUnsafeBytes { stored in
            while true {
                let entry = slots[slot]
                if entry < 0 { return (nil, slot) }
                if hashes[entry] == hash {
                    let start = entry == 0 ? 0 : wordEnds[entry - 1]
                    let length = wordEnds[entry] - start
                    if length == word.count {
                        if length == 0 { return (entry, slot) }
                        if let storedBase = stored.baseAddress, let base = word.baseAddress,
                           memcmp(storedBase + start, base, length) == 0 {
                            return (entry, slot)
                        }
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    private mutating func rehash(capacity: Int) {
        var grown = [Int](repeating: -1, count: capacity)
        let mask = capacity - 1
        for (entry, hash) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: hash) & mask
            while grown[slot] >= 0 { slot = (slot + 1) & mask }
            grown[slot] = entry
        }
        slots = grown
    }
}
