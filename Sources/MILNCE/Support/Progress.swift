import FoundationEssentials
import Glibc
import POSIX
import Synchronization

/// A one-line progress display for long work (training epochs, evaluation, index building).
///
/// On a terminal it redraws one line in place, at most a few times a second; when output is a
/// file or a pipe it prints a plain line every `plainInterval` seconds instead, so logs stay short.
public final class ProgressDisplay: Sendable {
    private let title: String
    private let total: Int
    private let start = ContinuousClock.now
    private let interactive: Bool
    private let plainInterval: Double
    private let drawing = Mutex(Drawing())

    /// What the display has drawn so far.
    private struct Drawing {
        /// Seconds from the start to the last line drawn.
        var lastDraw = 0.0
        var finished = false
        /// The last line printed, to avoid printing the same completed line twice.
        var lastLine = ""
    }

    /// A display for `total` units of work (0 when unknown).
    public init(_ title: String, total: Int, plainInterval: Double = 30, interactive: Bool? = nil) {
        self.title = title
        self.total = total
        self.plainInterval = plainInterval
        self.interactive = interactive ?? (isatty(STDERR_FILENO) != 0)
    }

    /// Reports that `done` units are complete, with an optional status text (e.g. the loss).
    public func update(_ done: Int, status: String = "") {
        drawing.withLock { drawing in
            guard !drawing.finished else { return }
            let now = start.elapsedSeconds
            let interval = interactive ? 0.2 : plainInterval
            guard now - drawing.lastDraw >= interval || done == total else { return }
            drawing.lastDraw = now
            let line = render(done, status: status, elapsed: now)
            drawing.lastLine = line
            if interactive {
                FileOutput.standardError.print("\r\u{1B}[K" + line)
            } else {
                FileOutput.standardError.print(line + "\n")
            }
        }
    }

    /// Ends the display with a final line.
    public func finish(_ status: String = "") {
        drawing.withLock { drawing in
            guard !drawing.finished else { return }
            drawing.finished = true
            let lastLine = drawing.lastLine
            if interactive {
                let line = status.isEmpty && !lastLine.isEmpty
                    ? lastLine : render(total, status: status, elapsed: start.elapsedSeconds)
                FileOutput.standardError.print("\r\u{1B}[K" + line + "\n")
            } else if !status.isEmpty || !lastLine.contains("\(total)/\(total)") {
                FileOutput.standardError.print(render(total, status: status, elapsed: start.elapsedSeconds) + "\n")
            }
        }
    }

    private func render(_ done: Int, status: String, elapsed: Double) -> String {
        var parts = [title]
        if total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 24
            let filled = Int(fraction * Double(width))
            parts.append("[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "]")
            parts.append("\(done)/\(total)")
            if done > 0 && done < total {
                parts.append("eta " + formatDuration(elapsed / Double(done) * Double(total - done)))
            }
        } else {
            parts.append("\(done)")
        }
        parts.append(formatDuration(elapsed))
        if !status.isEmpty { parts.append(status) }
        return parts.joined(separator: " ")
    }
}

/// `h:mm:ss` or `m:ss`.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let total = Int(seconds.rounded())
    let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60)
    return hours > 0 ? String(cFormat: "%ld:%02ld:%02ld", hours, minutes, secs) : String(cFormat: "%ld:%02ld", minutes, secs)
}
