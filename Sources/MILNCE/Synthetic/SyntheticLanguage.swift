// The synthetic dataset's world and its language: coloured shapes, what they do, how captions say
// it, the unrelated narration mixed in, and the vocabulary with its word vectors.

import FoundationEssentials

// MARK: - Colours

/// A colour a shape can have: saturated, so that it stands out from the muted backgrounds.
public enum ShapeColor: String, CaseIterable, Sendable, Hashable, Codable {
    /// Red (220, 40, 40).
    case red
    /// Green (40, 170, 70).
    case green
    /// Blue (40, 90, 230).
    case blue
    /// Yellow (235, 215, 40).
    case yellow
    /// Purple (150, 70, 210).
    case purple
    /// Orange (245, 140, 30).
    case orange

    /// The colour's red, green and blue values.
    public var rgb: (red: UInt8, green: UInt8, blue: UInt8) {
        switch self {
        case .red: (220, 40, 40)
        case .green: (40, 170, 70)
        case .blue: (40, 90, 230)
        case .yellow: (235, 215, 40)
        case .purple: (150, 70, 210)
        case .orange: (245, 140, 30)
        }
    }
}

// MARK: - Shapes

/// A shape that can appear on screen.
public enum ShapeKind: String, CaseIterable, Sendable, Hashable, Codable {
    /// A disc of the shape's radius.
    case circle
    /// An upright square, 1.6 radii on a side.
    case square
    /// An equilateral triangle pointing up, 2 radii on a side.
    case triangle
    /// A plus sign, 2 radii across, its arms two thirds of a radius thick.
    case cross
}

// MARK: - Actions

/// What a shape does during an event. Every change is spread evenly over the event's whole time
/// span, so that any part of the span shows it.
public enum ShapeAction: String, CaseIterable, Sendable, Hashable, Codable {
    /// Moves toward the left edge by `SyntheticGeometry.travelFraction` of the frame width.
    case movesLeft = "moves_left"
    /// Moves toward the right edge.
    case movesRight = "moves_right"
    /// Moves toward the top edge.
    case movesUp = "moves_up"
    /// Moves toward the bottom edge.
    case movesDown = "moves_down"
    /// Its size grows from `SyntheticGeometry.smallRadius` to `largeRadius`.
    case grows
    /// Its size shrinks from `SyntheticGeometry.largeRadius` to `smallRadius`.
    case shrinks
    /// Fades in from nothing; it was not on screen before the event.
    case appears
    /// Fades out to nothing; it is not on screen after the event.
    case disappears

    /// The ways a caption says it (each completes "the red square ...").
    public var phrases: [String] {
        switch self {
        case .movesLeft: ["moves left", "moves to the left", "slides left", "slides to the left", "goes left",
                          "travels left"]
        case .movesRight: ["moves right", "moves to the right", "slides right", "slides to the right", "goes right",
                           "travels right"]
        case .movesUp: ["moves up", "slides up", "goes up", "rises", "moves upward", "travels up"]
        case .movesDown: ["moves down", "slides down", "goes down", "falls", "drops", "moves downward"]
        case .grows: ["grows", "gets bigger", "becomes larger", "expands", "grows bigger"]
        case .shrinks: ["shrinks", "gets smaller", "becomes smaller", "contracts"]
        case .appears: ["appears", "fades in", "appears on screen", "comes into view"]
        case .disappears: ["disappears", "fades out", "vanishes", "fades away", "leaves the screen"]
        }
    }
}

// MARK: - Events

/// What one event shows: a shape of a colour doing something. The dataset has
/// `colors × shapes × actions` distinct events (192).
public struct SyntheticEventKind: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The shape's colour.
    public var color: ShapeColor
    /// The shape.
    public var shape: ShapeKind
    /// What it does.
    public var action: ShapeAction

    /// An event kind from its parts.
    public init(color: ShapeColor, shape: ShapeKind, action: ShapeAction) {
        self.color = color
        self.shape = shape
        self.action = action
    }

    /// Every event kind, colours outermost, actions innermost.
    public static let all: [SyntheticEventKind] = ShapeColor.allCases.flatMap { color in
        ShapeKind.allCases.flatMap { shape in
            ShapeAction.allCases.map { SyntheticEventKind(color: color, shape: shape, action: $0) }
        }
    }

    /// `red square moves_left`.
    public var description: String { "\(color.rawValue) \(shape.rawValue) \(action.rawValue)" }
}

// MARK: - Language

/// How captions are worded, and the vocabulary they use.
///
/// An event's caption is an optional opening word, "the" or "a", the colour, the shape and one of
/// the action's phrases: "now the red square slides to the left". Narration captions are
/// sentences about nothing on screen ("thanks for watching"), as the speech of HowTo100M videos
/// often is. Every word is lowercase, so a tokenizer that lowercases and one that does not see the
/// same words.
public enum SyntheticLanguage {
    /// Words that may open an event's caption (the empty string: none).
    public static let openings = ["", "", "", "now", "and now", "okay", "look", "then", "here"]

    /// Articles before the colour.
    public static let articles = ["the", "a"]

    /// The narration captions, unrelated to what is on screen.
    public static let narration = [
        "hi everyone and welcome back to my channel",
        "thanks for watching",
        "please subscribe and like this video",
        "don't forget to hit the bell",
        "let me know in the comments",
        "this is really easy",
        "okay so let's get started",
        "see you next time",
        "i hope you enjoyed this video",
        "today we are going to have some fun",
        "so that's pretty much it",
        "music",
        "alright guys",
        "make sure you check out my other videos",
        "it's very simple",
        "you can find the link in the description",
    ]

    /// The caption of an event, worded by `random`.
    public static func caption(for event: SyntheticEventKind, using random: inout SplitMix64) -> String {
        let opening = openings[random.index(below: openings.count)]
        let article = articles[random.index(below: articles.count)]
        let phrases = event.action.phrases
        let phrase = phrases[random.index(below: phrases.count)]
        let words = [opening, article, event.color.rawValue, event.shape.rawValue, phrase]
        return words.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// A narration caption chosen by `random`.
    public static func narrationCaption(using random: inout SplitMix64) -> String {
        narration[random.index(below: narration.count)]
    }

    // MARK: Vocabulary

    /// What a word means, for the structure of the word vectors: words of one `category` lie
    /// near each other, words of one `concept` (synonyms) nearer still.
    struct WordMeaning {
        var word: String
        var category: String
        var concept: String
    }

    /// Every word captions can use with its meaning, in dictionary order (word i has token i + 1).
    static let meanings: [WordMeaning] = {
        var result: [WordMeaning] = []
        var seen = Set<String>()
        func add(_ word: String, _ category: String, _ concept: String? = nil) {
            guard seen.insert(word).inserted else { return }
            result.append(WordMeaning(word: word, category: category, concept: concept ?? word))
        }
        for color in ShapeColor.allCases { add(color.rawValue, "colour") }
        for shape in ShapeKind.allCases { add(shape.rawValue, "shape") }
        let synonyms: [(category: String, concept: String, words: [String])] = [
            ("direction", "left", ["left"]),
            ("direction", "right", ["right"]),
            ("direction", "up", ["up", "upward", "rises"]),
            ("direction", "down", ["down", "downward", "falls", "drops"]),
            ("motion", "move", ["moves", "slides", "goes", "travels"]),
            ("size", "bigger", ["grows", "bigger", "larger", "expands"]),
            ("size", "smaller", ["shrinks", "smaller", "contracts"]),
            ("size", "become", ["gets", "becomes"]),
            ("visibility", "appear", ["appears", "in", "comes", "into", "view"]),
            ("visibility", "disappear", ["disappears", "out", "vanishes", "away", "leaves"]),
            ("visibility", "fade", ["fades"]),
            ("visibility", "screen", ["screen", "on"]),
        ]
        for group in synonyms {
            for word in group.words { add(word, group.category, group.concept) }
        }
        for phrase in ShapeAction.allCases.flatMap(\.phrases) + openings + articles {
            for word in PythonUnicode.findWords(in: phrase) { add(word, "function") }
        }
        for sentence in narration {
            for word in PythonUnicode.findWords(in: sentence) { add(word, "narration") }
        }
        return result
    }()

    /// The dictionary (`dict.npy`): word i has token i + 1.
    public static var vocabulary: [String] { meanings.map(\.word) }

    /// The dimension of the word vectors, the reference's word2vec dimension.
    public static let wordVectorDimension = 300

    /// The word-vector matrix (`word2vec.pth`), `(vocabulary.count + 1) × wordVectorDimension`
    /// float32 values in row-major order; row 0 is the padding token's and is zero.
    ///
    /// Each word's vector is the unit-length sum of three seeded random directions: its
    /// category's (weight 0.45), its concept's (0.75) and its own (0.5). Synonyms ("moves",
    /// "slides") therefore have a cosine similarity of about 0.8, words of one category ("red",
    /// "blue") about 0.2, and unrelated words about 0, as in a trained word2vec space; paraphrases
    /// start out close, and every word can still be told apart from every other.
    public static func wordVectors(seed: UInt64) -> [Float] {
        let dimension = wordVectorDimension
        var directions: [String: [Double]] = [:]
        func direction(_ key: String) -> [Double] {
            if let known = directions[key] { return known }
            var random = SplitMix64(seed: seed, stream: .wordVectors, index: stableHash(key))
            var vector = (0..<dimension).map { _ in random.gaussian() }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { vector = vector.map { $0 / norm } }
            directions[key] = vector
            return vector
        }
        var matrix = [Float](repeating: 0, count: (meanings.count + 1) * dimension)
        for (index, meaning) in meanings.enumerated() {
            let category = direction("category:" + meaning.category)
            let concept = direction("concept:" + meaning.concept)
            let own = direction("word:" + meaning.word)
            var vector = (0..<dimension).map { 0.45 * category[$0] + 0.75 * concept[$0] + 0.5 * own[$0] }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { vector = vector.map { $0 / norm } }
            let row = (index + 1) * dimension
            for component in 0..<dimension { matrix[row + component] = Float(vector[component]) }
        }
        return matrix
    }

    /// FNV-1a of the UTF-8 bytes, as an index: a key's random stream must not depend on the
    /// process (Swift's `hashValue` is seeded per process).
    static func stableHash(_ key: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return Int(truncatingIfNeeded: hash)
    }
}
