import Dispatch
import Foundation

/// This process's standard input, read whole.
enum StandardInput {
    static let chunk = 64 << 10

    /// Reads standard input to its end, on a dispatch thread so that a writer
    /// that is slow or never closes holds no thread of the cooperative pool.
    ///
    /// - Throws: `CommandFailure` (usage) once more than `limit` bytes arrive,
    ///   without reading the rest; `CommandFailure` (failure) when the read fails.
    static func readAll(limit: Int) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try read(limit: limit) })
            }
        }
    }

    private static func read(limit: Int) throws -> Data {
        var data = Data()
        while true {
            let piece: Data?
            do {
                piece = try FileHandle.standardInput.read(upToCount: chunk)
            } catch {
                throw CommandFailure(.failure, "failed to read standard input: \(error.localizedDescription)")
            }
            guard let piece, !piece.isEmpty else { return data }
            data.append(piece)
            if data.count > limit {
                throw CommandFailure(
                    .usage, "failed to read standard input: it is more than one request to corrald can carry (\(limit) bytes)")
            }
        }
    }
}
