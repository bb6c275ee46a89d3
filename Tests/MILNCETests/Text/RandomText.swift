import MILNCE

/// Random strings that stress Python's `\w`, `str.lower()` and word splitting: ASCII with
/// punctuation, apostrophes (straight, curly, modifier letter), underscores, accented letters
/// precomposed and decomposed, combining marks, Greek sigma in every position, Turkish dotted I,
/// ligatures, CJK and its numerals, digits and numbers of other scripts, emoji sequences,
/// mathematical letters, format characters, and random code points of older Unicode versions.
struct RandomText {
    /// Code points that matter for the tokenizer.
    static let interesting: [UInt32] = [
        0x27, 0x27, 0x27, 0x5F, 0x5F, 0x2D, 0x2E, 0x2C, 0x21, 0x3F, 0x22, 0x28, 0x29, 0x3A, 0x2F, 0x40, 0x23,
        0x20, 0x20, 0x20, 0x09, 0x0A, 0xA0, 0x3000, 0x2009, 0x200B,
        0xE9, 0xDF, 0xC0, 0xFF, 0xB5, 0xAA, 0xB2, 0xB9, 0xBC, 0xBA, 0xBD, 0xAD,
        0x301, 0x308, 0x327, 0x20DD, 0x345,
        0x3A3, 0x3A3, 0x3C3, 0x3C2, 0x391, 0x3A9, 0x390, 0x1F88, 0x1FBC, 0x370,
        0x130, 0x131, 0xFB01, 0x212A, 0x212B, 0x2126, 0x587, 0x1E9E, 0x149,
        0x430, 0x416, 0x4E2D, 0x4E00, 0x4E8C, 0x4E09, 0x5146, 0x3007, 0x3001, 0x30FC, 0xD55C,
        0x639, 0x660, 0x669, 0x6F0, 0x915, 0x93F, 0x966, 0x96F, 0xE01, 0xE51,
        0x216B, 0x2170, 0x2460, 0x2474, 0x2153, 0x2074, 0x2BC, 0x2019, 0x2BB, 0x200D, 0x200C,
        0x1F600, 0x1F44D, 0x1F3FD, 0x1F1EB, 0x1F1F7, 0xFE0F, 0x20E3, 0x1D400, 0x1D7CE, 0x10330, 0x10320,
        0x10400, 0x10428, 0x1E900, 0xE0041,
    ]

    /// The newest Unicode version both sides agree on (Python's `unicodedata.unidata_version`).
    let unicodeVersion: (major: Int, minor: Int)
    var generator: SplitMix64

    init(seed: UInt64, unicodeVersion: (major: Int, minor: Int)) {
        generator = SplitMix64(seed: seed)
        self.unicodeVersion = unicodeVersion
    }

    /// Whether `value` is a code point assigned in `unicodeVersion` (so that Python and Swift,
    /// which may carry different Unicode versions, describe it the same way).
    func isAssignedInBoth(_ value: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(value), let age = scalar.properties.age else { return false }
        return (age.major, age.minor) <= unicodeVersion
    }

    /// One random code point.
    mutating func scalar() -> Unicode.Scalar {
        while true {
            let choice = generator.uniformInt(in: 0...99)
            let value: UInt32
            if choice < 45 {
                value = UInt32(generator.uniformInt(in: 0x20...0x7E))
            } else if choice < 80 {
                value = RandomText.interesting[generator.uniformInt(in: 0...(RandomText.interesting.count - 1))]
            } else if choice < 95 {
                value = UInt32(generator.uniformInt(in: 0x80...0xFFFD))
            } else {
                value = UInt32(generator.uniformInt(in: 0x10000...0x2FFFF))
            }
            if isAssignedInBoth(value), let scalar = Unicode.Scalar(value) { return scalar }
        }
    }

    /// A random string of up to `maxLength` code points.
    mutating func string(maxLength: Int = 40) -> String {
        var text = String.UnicodeScalarView()
        for _ in 0..<generator.uniformInt(in: 0...maxLength) { text.append(scalar()) }
        return String(text)
    }
}
