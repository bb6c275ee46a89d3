// The reference's word tokenizer: split with `[\w']+` (Python `re` semantics), map every word
// through the word2vec dictionary (word i has token i + 1), drop unknown words, then truncate or
// zero-pad to `maxWords`.

import FoundationEssentials
import Glibc

// MARK: - Tokenizer

/// Turns sentences into rows of word tokens exactly as the reference's `words_to_ids`.
///
/// Words are compared by code point (Python's `dict` lookup), never by Swift's canonical
/// equivalence. Lookups hash the word's UTF-8 bytes in place: no allocation per word and no
/// regular expression at all.
public final class Tokenizer: Sendable {
    /// Whether sentences are lowercased (Python's `str.lower()`) before splitting, as the
    /// pretrained-model release does; the training and evaluation code does not.
    public let lowercased: Bool
    /// The number of entries of the dictionary the tokenizer was built from (tokens run from 1
    /// to this number; 0 is padding).
    public let dictionarySize: Int

    private let wordBytes: [UInt8]
    private let wordOffsets: [Int]
    private let entryTokens: [Int64]
    private let entryHashes: [UInt64]
    private let slots: [Int32]
    private let slotMask: Int

    /// A tokenizer over `words`, where `words[i]` has token `i + 1`. A word listed twice gets its
    /// last position, as Python's `{t: i + 1 for i, t in enumerate(words)}`.
    public init(words: [String], lowercased: Bool = false) {
        self.lowercased = lowercased
        dictionarySize = words.count
        var capacity = 16
        while capacity < words.count * 2 { capacity *= 2 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        var tokens: [Int64] = []
        var hashes: [UInt64] = []
        tokens.reserveCapacity(words.count)
        hashes.reserveCapacity(words.count)
        for (position, word) in words.enumerated() {
            let utf8 = Array(word.utf8)
            let hash = utf8.withUnsafeBytes { Tokenizer.hash($0) }
            var slot = Int(truncatingIfNeeded: hash) & mask
            var existing = -1
            while slots[slot] >= 0 {
                let entry = Int(slots[slot])
                if hashes[entry] == hash, bytes[offsets[entry]..<offsets[entry + 1]].elementsEqual(utf8) {
                    existing = entry
                    break
                }
                slot = (slot + 1) & mask
            }
            if existing >= 0 {
                tokens[existing] = Int64(position + 1)
            } else {
                slots[slot] = Int32(tokens.count)
                bytes.append(contentsOf: utf8)
                offsets.append(bytes.count)
                tokens.append(Int64(position + 1))
                hashes.append(hash)
            }
        }
        wordBytes = bytes
        wordOffsets = offsets
        entryTokens = tokens
        entryHashes = hashes
        self.slots = slots
        slotMask = mask
    }

    // MARK: Looking up

    /// The token of `word` (exact code points), or nil when the dictionary lacks it.
    public func token(for word: String) -> Int64? {
        Array(word.utf8).withUnsafeBytes { token(forUTF8: $0) }
    }

    /// The token of the UTF-8 word `bytes`, or nil when the dictionary lacks it.
    func token(forUTF8 bytes: UnsafeRawBufferPointer) -> Int64? {
        let hash = Tokenizer.hash(bytes)
        var slot = Int(truncatingIfNeeded: hash) & slotMask
        return wordBytes.withUnsafeBytes { stored -> Int64? in
            while true {
                let entry = Int(slots[slot])
                if entry < 0 { return nil }
                if entryHashes[entry] == hash {
                    let start = wordOffsets[entry]
                    let length = wordOffsets[entry + 1] - start
                    if length == bytes.count {
                        guard length > 0, let storedBase = stored.baseAddress, let base = bytes.baseAddress else {
                            return entryTokens[entry]
                        }
                        if memcmp(storedBase + start, base, length) == 0 { return entryTokens[entry] }
                    }
                }
                slot = (slot + 1) & slotMask
            }
        }
    }

    // MARK: Tokenizing

    /// The words of `sentence` as the reference splits them (after lowercasing, when enabled).
    public func words(in sentence: String) -> [String] {
        PythonUnicode.findWords(in: lowercased ? PythonUnicode.lowercased(sentence) : sentence)
    }

    /// The token row of `sentence`: its known words' tokens, truncated to `maxWords` or padded
    /// with zeros to it.
    public func tokens(of sentence: String, maxWords: Int) -> [Int64] {
        var row = [Int64](repeating: 0, count: max(0, maxWords))
        var sentence = sentence
        sentence.withUTF8 { utf8 in
            row.withUnsafeMutableBufferPointer { output in
                _ = tokens(ofUTF8: UnsafeRawBufferPointer(utf8), into: output)
            }
        }
        return row
    }

    /// The token rows of several sentences, one after another (`sentences.count x maxWords`).
    public func tokens(of sentences: [String], maxWords: Int) -> [Int64] {
        var rows: [Int64] = []
        rows.reserveCapacity(sentences.count * max(0, maxWords))
        for sentence in sentences { rows.append(contentsOf: tokens(of: sentence, maxWords: maxWords)) }
        return rows
    }

    /// Writes the token row of the UTF-8 sentence `bytes` into `row` (its length is the number of
    /// words kept: known words beyond it are dropped, the rest of it is set to zero). Returns the
    /// number of known words written. Invalid UTF-8 bytes separate words.
    @discardableResult
    public func tokens(ofUTF8 bytes: UnsafeRawBufferPointer, into row: UnsafeMutableBufferPointer<Int64>) -> Int {
        if lowercased {
            var lowered: [UInt8] = []
            PythonUnicode.lowercaseUTF8(bytes, into: &lowered)
            return lowered.withUnsafeBytes { splitAndLookUp($0, into: row) }
        }
        return splitAndLookUp(bytes, into: row)
    }

    private func splitAndLookUp(_ bytes: UnsafeRawBufferPointer, into row: UnsafeMutableBufferPointer<Int64>) -> Int {
        var written = 0
        let capacity = row.count
        if capacity > 0 {
            PythonUnicode.forEachWord(in: bytes) { range in
                if let token = token(forUTF8: UnsafeRawBufferPointer(rebasing: bytes[range])) {
                    row[written] = token
                    written += 1
                }
                return written < capacity
            }
        }
        for position in written..<capacity { row[position] = 0 }
        return written
    }

    // MARK: Hashing

    /// FNV-1a over the bytes.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
