// `stdout` is a C global variable, which Swift 6 will not read outside an isolated context; the
// C library itself guards the stream with its own lock, so the import is marked preconcurrency
// here, in this one file, and nowhere else.
@preconcurrency import Glibc

extension FileOutput {
    /// Makes standard output line-buffered, so that what `print` writes appears line by line as
    /// it is printed, also when the output goes to a file or a pipe.
    public static func lineBufferStandardOutput() {
        setvbuf(stdout, nil, _IOLBF, 0)
    }
}
