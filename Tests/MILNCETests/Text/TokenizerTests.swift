import Foundation
import Testing
import TestSupport
@testable import MILNCE

/// Python's Unicode version, which bounds the code points compared with it.
private func pythonUnicodeVersion() throws -> (major: Int, minor: Int) {
    let version: String = try PythonOracle.run("import json, unicodedata; print(json.dumps(unicodedata.unidata_version))")
    let parts = version.split(separator: ".").compactMap { Int($0) }
    return (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
}

@Suite struct PythonUnicodeTests {
    /// `\w` on every code point assigned in Python's Unicode version.
    @Test func wordCharactersMatchPythonOnEveryAssignedCodePoint() throws {
        let script = """
        import json, re, sys, unicodedata
        word = re.compile(r"\\w")
        ranges = []
        for c in range(0x110000):
            if 0xD800 <= c <= 0xDFFF or unicodedata.category(chr(c)) == 'Cn':
                continue
            if word.match(chr(c)):
                if ranges and ranges[-1][1] == c - 1: ranges[-1][1] = c
                else: ranges.append([c, c])
        print(json.dumps(ranges))
        """
        let ranges: [[UInt32]] = try PythonOracle.run(script)
        let version = try pythonUnicodeVersion()
        let sampler = RandomText(seed: 0, unicodeVersion: version)
        var pythonWord = Set<UInt32>()
        for range in ranges { for value in range[0]...range[1] { pythonWord.insert(value) } }
        var mismatches: [String] = []
        var compared = 0
        for value in UInt32(0)..<0x110000 where sampler.isAssignedInBoth(value) {
            compared += 1
            let ours = PythonUnicode.isWordCharacter(Unicode.Scalar(value)!)
            if ours != pythonWord.contains(value) {
                mismatches.append(String(format: "U+%04X ours=%d python=%d", value, ours ? 1 : 0, ours ? 0 : 1))
            }
        }
        #expect(compared > 100_000)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches: \(mismatches.prefix(20))")
    }

    /// `str.lower()` of every assigned code point on its own.
    @Test func lowercasingMatchesPythonOnEveryAssignedCodePoint() throws {
        let script = """
        import json, unicodedata
        changed = {}
        for c in range(0x110000):
            if 0xD800 <= c <= 0xDFFF or unicodedata.category(chr(c)) == 'Cn':
                continue
            lower = chr(c).lower()
            if lower != chr(c): changed[c] = [ord(x) for x in lower]
        print(json.dumps(changed))
        """
        let changed: [String: [UInt32]] = try PythonOracle.run(script)
        let sampler = RandomText(seed: 0, unicodeVersion: try pythonUnicodeVersion())
        var mismatches: [String] = []
        for value in UInt32(0)..<0x110000 where sampler.isAssignedInBoth(value) {
            let text = String(Character(Unicode.Scalar(value)!))
            let expected = changed[String(value)] ?? [value]
            let ours = codePoints(PythonUnicode.lowercased(text))
            if ours != expected { mismatches.append(String(format: "U+%04X", value) + " ours=\(ours) python=\(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches: \(mismatches.prefix(20))")
    }

    /// `re.findall(r"[\w']+", s)` and `s.lower()` on thousands of random strings.
    @Test func splittingAndLowercasingMatchPythonOnRandomStrings() throws {
        var random = RandomText(seed: 1, unicodeVersion: try pythonUnicodeVersion())
        let strings = (0..<4000).map { _ in random.string() }
        let script = """
        import json, re, sys
        strings = json.load(open(sys.argv[1]))
        print(json.dumps([[re.findall(r"[\\w']+", s), s.lower()] for s in strings]))
        """
        struct Answer: Decodable {
            let words: [String]
            let lowered: String
            init(from decoder: Decoder) throws {
                var container = try decoder.unkeyedContainer()
                words = try container.decode([String].self)
                lowered = try container.decode(String.self)
            }
        }
        let answers: [Answer] = try PythonOracle.run(script, input: strings)
        try #require(answers.count == strings.count)
        var wordMismatches = 0, lowerMismatches = 0
        for (string, answer) in zip(strings, answers) {
            let ours = PythonUnicode.findWords(in: string)
            if ours.map(codePoints) != answer.words.map(codePoints) {
                wordMismatches += 1
                if wordMismatches <= 5 { Issue.record("split \(codePoints(string)): ours \(ours), python \(answer.words)") }
            }
            if codePoints(PythonUnicode.lowercased(string)) != codePoints(answer.lowered) {
                lowerMismatches += 1
                if lowerMismatches <= 5 { Issue.record("lower \(codePoints(string)): ours \(PythonUnicode.lowercased(string))") }
            }
        }
        #expect(wordMismatches == 0)
        #expect(lowerMismatches == 0)
    }

    /// The final-sigma rule in its contexts (cased letters, case-ignorable marks, ends).
    @Test func finalSigmaMatchesPython() throws {
        let pieces = ["Σ", "A", "a", "'", ".", "\u{301}", "\u{AD}", " ", "1", "ΣΣ", "ς", "İ", "\u{345}"]
        var texts: [String] = []
        var generator = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            texts.append((0..<generator.uniformInt(in: 1...6)).map { _ in
                pieces[generator.uniformInt(in: 0...(pieces.count - 1))]
            }.joined())
        }
        let lowered: [String] = try PythonOracle.run(
            "import json, sys; print(json.dumps([s.lower() for s in json.load(open(sys.argv[1]))]))", input: texts)
        let mismatches = zip(texts, lowered).filter { codePoints(PythonUnicode.lowercased($0.0)) != codePoints($0.1) }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10).map { codePoints($0.0) })")
    }
}

@Suite struct TokenizerTests {
    /// `words_to_ids` (and with `.lower()` first) against Python on random strings and a random
    /// dictionary with repeated words, for random `max_words`.
    @Test(arguments: [false, true])
    func tokensMatchWordsToIds(lowercased: Bool) throws {
        var random = RandomText(seed: lowercased ? 3 : 2, unicodeVersion: try pythonUnicodeVersion())
        let sentences = (0..<3000).map { _ in random.string(maxLength: 60) }
        // A dictionary from words that occur, some lowercased, some repeated, plus strangers.
        var dictionary: [String] = []
        for sentence in sentences.prefix(1500) {
            for word in PythonUnicode.findWords(in: sentence) where random.generator.uniformInt(in: 0...2) == 0 {
                dictionary.append(random.generator.uniformInt(in: 0...1) == 0 ? word : PythonUnicode.lowercased(word))
            }
        }
        for _ in 0..<200 { dictionary.append(random.string(maxLength: 5)) }
        for _ in 0..<100 where !dictionary.isEmpty {
            dictionary.append(dictionary[random.generator.uniformInt(in: 0...(dictionary.count - 1))])
        }
        let maxWords = sentences.map { _ in random.generator.uniformInt(in: 0...24) }
        struct Input: Encodable { let words: [String]; let sentences: [String]; let maxWords: [Int]; let lower: Bool }
        let script = """
        import json, re, sys
        data = json.load(open(sys.argv[1]))
        word_to_token = {t: i + 1 for i, t in enumerate(data["words"])}
        out = []
        for sentence, max_words in zip(data["sentences"], data["maxWords"]):
            if data["lower"]: sentence = sentence.lower()
            words = [word_to_token[w] for w in re.findall(r"[\\w']+", str(sentence)) if w in word_to_token]
            row = words[:max_words] + [0] * max(0, max_words - len(words))
            out.append(row)
        print(json.dumps(out))
        """
        let expected: [[Int64]] = try PythonOracle.run(
            script, input: Input(words: dictionary, sentences: sentences, maxWords: maxWords, lower: lowercased))
        let tokenizer = Tokenizer(words: dictionary, lowercased: lowercased)
        var mismatches = 0
        var nonZero = 0
        for (index, sentence) in sentences.enumerated() {
            let ours = tokenizer.tokens(of: sentence, maxWords: maxWords[index])
            nonZero += ours.filter { $0 != 0 }.count
            if ours != expected[index] {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(codePoints(sentence)): ours \(ours), python \(expected[index])") }
            }
        }
        #expect(mismatches == 0)
        #expect(nonZero > 1000, "the test should find many known words")
    }

    @Test func comparesWordsByCodePointNotByCanonicalEquivalence() {
        let precomposed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed, "Swift's String equality is canonical")
        let tokenizer = Tokenizer(words: [precomposed])
        #expect(tokenizer.token(for: precomposed) == 1)
        #expect(tokenizer.token(for: decomposed) == nil)
        #expect(tokenizer.tokens(of: "\(decomposed) \(precomposed)", maxWords: 3) == [1, 0, 0])
    }

    @Test func laterDuplicatesWinAndUnknownWordsAreDropped() {
        let tokenizer = Tokenizer(words: ["a", "b", "a"])
        #expect(tokenizer.dictionarySize == 3)
        #expect(tokenizer.tokens(of: "a b c a", maxWords: 5) == [3, 2, 3, 0, 0])
        #expect(tokenizer.tokens(of: "a b c a", maxWords: 2) == [3, 2])
        #expect(tokenizer.tokens(of: "zzz", maxWords: 3) == [0, 0, 0])
        #expect(tokenizer.tokens(of: "a", maxWords: 0) == [])
    }

    @Test func invalidUTF8SeparatesWordsWithoutCrashing() {
        let tokenizer = Tokenizer(words: ["ab", "cd"])
        let bytes: [UInt8] = [0x61, 0x62, 0xFF, 0x63, 0x64, 0xE2, 0x82, 0x20, 0xF0, 0x9F]
        var row = [Int64](repeating: -1, count: 4)
        let written = bytes.withUnsafeBytes { input in
            row.withUnsafeMutableBufferPointer { tokenizer.tokens(ofUTF8: input, into: $0) }
        }
        #expect(written == 2)
        #expect(row == [1, 2, 0, 0])
    }
}
