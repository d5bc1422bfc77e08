#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralHost
import Foundation

/// A blocking stream of bytes read by the tar reader. Used from one thread only.
protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer`; 0 at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveProblem) -> Int
    /// Skips `count` bytes without reading them if the source can (a file can
    /// seek); returns false, having skipped nothing, if it cannot.
    func skip(_ count: Int64) throws(ArchiveProblem) -> Bool
    /// Ends the stream; for a decompressor, waits for it and reports a failure.
    func finish(complete: Bool) throws(ArchiveProblem)
}

extension ByteSource {
    func skip(_ count: Int64) throws(ArchiveProblem) -> Bool { false }

    /// Reads into `bytes` from `offset` to its end; 0 at the end of the stream.
    func read(into bytes: inout [UInt8], from offset: Int) throws(ArchiveProblem) -> Int {
        let result = bytes.withUnsafeMutableBytes { (raw) -> Result<Int, ArchiveProblem> in
            do throws(ArchiveProblem) {
                return .success(try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// How a blob is compressed, as its media type says.
enum LayerCompression: Sendable, Equatable {
    case none
    case gzip
    case zstd

    /// The compression a layer media type declares; nil for a type that is not a layer.
    init?(mediaType: String) {
        switch mediaType {
        case OCIMediaType.layer, OCIMediaType.nondistributableLayer, OCIMediaType.dockerLayerUncompressed:
            self = .none
        case OCIMediaType.layerGzip, OCIMediaType.nondistributableLayerGzip, OCIMediaType.dockerLayerGzip:
            self = .gzip
        case OCIMediaType.layerZstd, OCIMediaType.nondistributableLayerZstd:
            self = .zstd
        default:
            return nil
        }
    }

    /// The compression the first bytes of a file show.
    static func sniff(_ prefix: [UInt8]) -> LayerCompression {
        if prefix.starts(with: [0x1f, 0x8b]) { return .gzip }
        if prefix.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        return .none
    }

    /// The OCI layer media type for a layer compressed this way.
    var layerMediaType: String {
        switch self {
        case .none: OCIMediaType.layer
        case .gzip: OCIMediaType.layerGzip
        case .zstd: OCIMediaType.layerZstd
        }
    }
}

/// A file read from its start.
final class FileByteSource: ByteSource {
    private let fd: Int32
    private let path: String

    init(path: String) throws(ArchiveProblem) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable("cannot open \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveProblem) -> Int {
        while true {
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw .unreadable("cannot read \(path): \(String(cString: strerror(errno)))")
        }
    }

    func skip(_ count: Int64) throws(ArchiveProblem) -> Bool {
        guard lseek(fd, off_t(count), SEEK_CUR) >= 0 else {
            throw .unreadable("cannot seek in \(path): \(String(cString: strerror(errno)))")
        }
        return true
    }

    func finish(complete: Bool) throws(ArchiveProblem) {}

    /// The first `count` bytes of the file (fewer if it is shorter).
    static func prefix(of path: String, count: Int) throws(ArchiveProblem) -> [UInt8] {
        let source = try FileByteSource(path: path)
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = try source.read(into: &bytes, from: filled)
            if got == 0 { break }
            filled += got
        }
        return Array(bytes[0..<filled])
    }
}

/// The decompressed content of a file, produced by `gzip -dc` or `zstd -dc`
/// (started by `HostCommand`: Foundation's `Process` hangs without loopback).
final class DecompressorByteSource: ByteSource {
    private let running: StreamingHostCommand
    private let tool: String
    /// How long `finish` waits for the decompressor before it is killed.
    static let exitTimeoutMilliseconds: Int32 = 30_000

    init(tool: String, path: String) throws(ArchiveProblem) {
        do {
            running = try HostCommand(executable: tool, arguments: ["-d", "-c", "--", path]).startStreaming()
        } catch {
            throw .unreadable("cannot run \(tool): \(error.description)")
        }
        self.tool = (tool as NSString).lastPathComponent
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveProblem) -> Int {
        do {
            return try running.read(into: buffer)
        } catch {
            throw .unreadable("cannot read the output of \(tool): \(error.description)")
        }
    }

    /// Waits for the decompressor. With `complete`, the caller read to the end and a
    /// failed exit is reported; without it the decompressor is stopped first.
    func finish(complete: Bool) throws(ArchiveProblem) {
        if !complete { running.signal(SIGTERM) }
        running.closeOutput()
        var status = running.wait(milliseconds: Self.exitTimeoutMilliseconds)
        if status == nil {
            running.signal(SIGKILL)
            status = running.wait(milliseconds: -1)
        }
        guard complete else { return }
        let code = status.map(StreamingHostCommand.exitCode) ?? 128 + SIGKILL
        if code != 0 {
            let message = String(decoding: running.standardError(limit: 4096), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let detail = message.isEmpty ? "exit status \(code)" : message
            throw .malformed("the layer does not decompress (\(tool)): \(detail)")
        }
    }
}

/// Passes another source through, hashing and counting what is read.
final class HashingByteSource: ByteSource {
    private let inner: any ByteSource
    private(set) var hasher = SHA256()
    private(set) var count: Int64 = 0

    init(_ inner: any ByteSource) {
        self.inner = inner
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveProblem) -> Int {
        let got = try inner.read(into: buffer)
        if got > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            count += Int64(got)
        }
        return got
    }

    func finish(complete: Bool) throws(ArchiveProblem) {
        try inner.finish(complete: complete)
    }

    /// The digest of everything read so far.
    func digest() -> ImageDigest {
        var copy = hasher
        return ImageDigest.finishing(&copy)
    }
}
