import FoundationEssentials
import Glibc

/// Memory figures of this process, read from `/proc/self/status`.
public enum ResourceUsage {
    /// Resident memory now, in bytes (VmRSS).
    public static var residentBytes: Int { statusField("VmRSS:") }

    /// Peak resident memory since start or the last `resetPeak()`, in bytes (VmHWM).
    public static var peakResidentBytes: Int { statusField("VmHWM:") }

    /// Resets the peak resident memory to the current value (Linux `clear_refs` 5).
    public static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    private static func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return 0
    }
}

/// Formats a byte count as MiB or GiB.
public func formatBytes(_ bytes: Int) -> String {
    let mebibytes = Double(bytes) / 1_048_576
    return mebibytes >= 1024 ? String(cFormat: "%.2f GiB", mebibytes / 1024) : String(cFormat: "%.0f MiB", mebibytes)
}

/// The processor time this process has used, with that of its finished child processes (the
/// `ffmpeg` processes of the reference's decoding method), from `getrusage`.
public struct ProcessorTime: Sendable, Equatable {
    /// User and system seconds of this process's threads.
    public var ownSeconds: Double
    /// User and system seconds of the child processes that have ended and been waited for.
    public var childrenSeconds: Double

    /// Both together.
    public var totalSeconds: Double { ownSeconds + childrenSeconds }

    /// The time used so far.
    public static var now: ProcessorTime {
        ProcessorTime(ownSeconds: seconds(of: RUSAGE_SELF), childrenSeconds: seconds(of: RUSAGE_CHILDREN))
    }

    /// The time used between `earlier` and this reading.
    public func since(_ earlier: ProcessorTime) -> ProcessorTime {
        ProcessorTime(ownSeconds: ownSeconds - earlier.ownSeconds, childrenSeconds: childrenSeconds - earlier.childrenSeconds)
    }

    private static func seconds(of who: __rusage_who) -> Double {
        var usage = rusage()
        guard getrusage(__rusage_who_t(who.rawValue), &usage) == 0 else { return 0 }
        func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) * 1e-6 }
        return value(usage.ru_utime) + value(usage.ru_stime)
    }
}
