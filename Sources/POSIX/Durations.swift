/// Durations as seconds, for figures and progress lines. Times are measured with
/// `ContinuousClock`: `let start = ContinuousClock.now; …; start.elapsedSeconds`.
extension Duration {
    /// The duration in seconds.
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

extension ContinuousClock.Instant {
    /// The seconds from this instant to now.
    public var elapsedSeconds: Double { (ContinuousClock.now - self).inSeconds }
}
