import ArgumentParser
import CorralAPI
import CorralClient
import Foundation

/// `corral cp`: copy one file between a running instance and this host.
struct CpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "Copy a file into or out of a running instance.",
        usage: """
            corral cp [options] NAME:/path LOCAL-PATH|-
            corral cp [options] LOCAL-PATH|- NAME:/path
            """,
        discussion: """
            One side is a file inside an instance, NAME:/path with an absolute path; the \
            other a local path, or - for standard input (as the source) or standard output \
            (as the destination). A local path with a ':' is written ./name:with-colon.

            Single files only. A destination ending in '/', or a local destination that is \
            a directory, receives the file under its source's name. A file copied into an \
            instance keeps the local file's permission bits (0644 from standard input); a \
            file copied out gets this host's default mode, or keeps the mode of the local \
            file it replaces. corrald carries about 3 MiB of file per request.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("NAME:/path, a local file, or - for standard input.", valueName: "source"))
    var source: String

    @Argument(help: ArgumentHelp("NAME:/path, a local path, or - for standard output.", valueName: "destination"))
    var destination: String

    func validate() throws {
        let from = try CopyEndpoint(parsing: source)
        let to = try CopyEndpoint(parsing: destination)
        switch (from.isInstance, to.isInstance) {
        case (true, true):
            throw ValidationError("cannot copy from one instance to another: copy through a local file")
        case (false, false):
            throw ValidationError("one side must be a file inside an instance, NAME:/path")
        default:
            break
        }
    }

    func run() async throws {
        let client = try global.makeClient()
        let contentLimit = client.maxRequestBytes / 4 * 3
        switch (try CopyEndpoint(parsing: source), try CopyEndpoint(parsing: destination)) {
        case (.instance(let name, let path), let target):
            try await copyOut(client, name: name, path: path, to: target)
        case (let origin, .instance(let name, let path)):
            try await copyIn(client, from: origin, name: name, path: path, limit: contentLimit)
        default:
            throw ValidationError("one side must be a file inside an instance, NAME:/path")
        }
    }

    private func copyOut(_ client: CorralClient, name: String, path: String, to target: CopyEndpoint) async throws {
        let file = try await client.readFile(name, path: path)
        guard let bytes = Data(base64Encoded: file.content) else {
            throw CommandFailure(.failure, "failed to copy \(name):\(path): corrald sent invalid base64")
        }
        switch target {
        case .standardStream:
            Console.stdout(bytes)
        case .local(let local):
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory)
            var destination = local
            if local.hasSuffix("/") || (exists && isDirectory.boolValue) {
                guard let fileName = Self.fileName(path) else {
                    throw CommandFailure(.usage, "failed to copy \(name):\(path): it names no file")
                }
                destination = (local as NSString).appendingPathComponent(fileName)
            }
            try LocalFile.replace(destination, with: bytes)
        case .instance:
            throw ValidationError("cannot copy from one instance to another: copy through a local file")
        }
    }

    private func copyIn(
        _ client: CorralClient, from origin: CopyEndpoint, name: String, path: String, limit: Int
    ) async throws {
        let bytes: Data
        let mode: Int?
        let sourceName: String?
        switch origin {
        case .standardStream:
            bytes = try await StandardInput.readAll(limit: limit)
            mode = nil
            sourceName = nil
        case .local(let local):
            let file = try LocalFile.read(local, limit: limit)
            bytes = file.bytes
            mode = file.mode
            sourceName = Self.fileName(local)
        case .instance:
            throw ValidationError("cannot copy from one instance to another: copy through a local file")
        }
        var target = path
        if path.hasSuffix("/") {
            guard let sourceName else {
                throw ValidationError("name the file to write: standard input has no name to put in \(name):\(path)")
            }
            target = path + sourceName
        }
        try await client.writeFile(name, InstanceFileDTO(path: target, content: bytes.base64EncodedString(), mode: mode))
    }

    /// The last component of `path`; `nil` when it names a directory.
    static func fileName(_ path: String) -> String? {
        guard !path.hasSuffix("/") else { return nil }
        let name = (path as NSString).lastPathComponent
        return name.isEmpty || name == "." || name == ".." ? nil : name
    }
}
