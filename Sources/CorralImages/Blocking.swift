import CorralCore
import Foundation

/// Runs blocking work (file copies, tar scans, `flock`, waits on child processes)
/// on a thread of its own, so it never occupies the cooperative pool.
enum Blocking {
    /// Runs `work` on a new thread and returns its result. Not cancellable: `work`
    /// runs to completion.
    static func run<T: Sendable>(
        _ name: String, _ work: @escaping @Sendable () throws(CorralError) -> T
    ) async throws(CorralError) -> T {
        let result: Result<T, CorralError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(CorralError) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = name
            thread.start()
        }
        return try result.get()
    }
}
