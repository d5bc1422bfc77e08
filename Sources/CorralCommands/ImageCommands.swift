import ArgumentParser
import CorralAPI
import CorralClient
import Foundation

/// `corral pull`: fetch an image from a registry into the daemon's store.
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull an image from a registry into the daemon's image store.",
        discussion: """
            Prints the image's digest. The daemon answers once the whole image is stored \
            (corral waits up to 30 minutes); it reports no progress while it pulls, so on a \
            terminal corral shows only the time spent.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Allow plain HTTP and unverified TLS: only for registries you trust.")
    var insecure = false

    @Option(
        name: .long,
        help: ArgumentHelp("Registry credentials (visible to other users of this host in its process list).", valueName: "user:password"))
    var creds: String?

    @Argument(help: ArgumentHelp("The image: name[:tag] or name@sha256:<digest>.", valueName: "reference"))
    var reference: String

    func validate() throws {
        if reference.isEmpty { throw ValidationError("the image reference must not be empty") }
        if let creds {
            guard let colon = creds.firstIndex(of: ":"), colon != creds.startIndex else {
                throw ValidationError("invalid --creds: expected user:password")
            }
        }
    }

    func run() async throws {
        let client = try global.makeClient()
        let request = ImagePullRequest(reference: reference, credentials: creds, insecure: insecure ? true : nil)
        let image = try await ActivityLine.showing("pulling \(reference)") { update in
            try await client.pullImage(request, progress: { update(Output.progress($0)) })
        }
        try printStored(image, json: global.json)
    }
}

/// `corral import`: import an image archive that the daemon reads from its own host.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an image archive into the daemon's image store.",
        discussion: """
            Prints the image's digest. The daemon reads PATH from its own host: a relative \
            PATH is made absolute against this directory, which names the right file when \
            the daemon runs here; for a remote daemon, give the path on its host.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "The archive's format.")
    var format: ImageArchiveFormatArgument

    @Option(name: .long, help: ArgumentHelp("The name to give the image; required for rootfs.", valueName: "name[:tag]"))
    var name: String?

    @Argument(help: ArgumentHelp("The archive.", valueName: "path"))
    var path: String

    func validate() throws {
        if path.isEmpty { throw ValidationError("the archive path must not be empty") }
        if format == .rootfs, (name ?? "").isEmpty {
            throw ValidationError("--name is required with --format rootfs: a root filesystem tar carries no name")
        }
    }

    /// `path` made absolute against the current directory, `.` and `..` resolved.
    var absolutePath: String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    func run() async throws {
        let client = try global.makeClient()
        let request = ImageImportRequest(path: absolutePath, format: format.rawValue, name: name)
        let image = try await ActivityLine.showing("importing \(path)") { update in
            try await client.importImage(request, progress: { update(Output.progress($0)) })
        }
        try printStored(image, json: global.json)
    }
}

enum ImageArchiveFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case ociArchive = "oci-archive"
    case dockerArchive = "docker-archive"
    case rootfs
}

/// Prints a pulled or imported image: its digest, or the whole image as JSON.
private func printStored(_ image: ImageDTO, json: Bool) throws {
    if json {
        try Output.json(image)
        return
    }
    guard let digest = image.digest, !digest.isEmpty else {
        throw CommandFailure(.failure, "corrald stored the image but did not report its digest")
    }
    Console.stdout(digest + "\n")
}

/// `corral images`: the images in the daemon's store.
struct ImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List the images in the daemon's image store.",
        discussion: "Newest first. USED BY names the instances pinned to each image.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try global.makeClient()
        let images = try await client.listImages().sorted {
            ($0.createdAt ?? "", $1.url ?? "") > ($1.createdAt ?? "", $0.url ?? "")
        }
        if global.json {
            try Output.json(images)
            return
        }
        let now = Date()
        let rows = images.map { image -> [String] in
            let names = image.tags ?? []
            let users = image.users ?? []
            return [
                names.isEmpty ? "<none>" : names.joined(separator: ","),
                Output.shortDigest(image.digest),
                image.sizeInBytes.map { Output.size(bytes: $0) } ?? "-",
                Output.ago(image.createdAt, now: now),
                users.isEmpty ? "-" : users.joined(separator: ","),
            ]
        }
        Output.table(["NAMES", "DIGEST", "SIZE", "CREATED", "USED BY"], rows)
    }
}

/// `corral image`: manage the daemon's image store.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Remove and prune images ('corral images' lists them).",
        subcommands: [ImageRmCommand.self, ImagePruneCommand.self])
}

/// `corral image rm`: remove image names, and images no name points at any more.
struct ImageRmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove images.",
        discussion: """
            A name is removed, and with it the image once no other name points at it; a \
            digest removes the image. An image an instance uses is refused (exit 4). Prints \
            'untagged <name>' for a name that went alone and 'deleted <digest>' for each \
            image deleted; each failure is reported by reference and the others still run.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Image names or digests.", valueName: "reference"))
    var references: [String]

    func validate() throws {
        if references.isEmpty { throw ValidationError("name at least one image") }
    }

    func run() async throws {
        let client = try global.makeClient()
        var removed: [ImageDTO] = []
        var worst: CorralExitCode?
        // One request per reference: the daemon stops a batch at its first
        // failure, and each reference's outcome is reported on its own.
        for reference in references {
            let deleted: [ImageDTO]
            do {
                deleted = try await client.removeImages([ImageRemoveRequestItem(reference: reference)])
            } catch let error as CorralClientError where error.kind != .unreachable {
                Console.error(reference + ": " + error.message)
                let code = CorralExitCode(error)
                worst = max(worst ?? code, code)
                continue
            }
            removed += deleted
            guard !global.json else { continue }
            if deleted.isEmpty {
                Console.stdout("untagged \(reference)\n")
            }
            for image in deleted {
                Console.stdout("deleted \(image.digest ?? reference)\n")
            }
        }
        if global.json { try Output.json(removed) }
        if let worst { throw CommandFailure(worst) }
    }
}

/// `corral image prune`: delete every image no instance uses.
struct ImagePruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete every image no instance uses.",
        discussion: "Prints the digest of each image deleted.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try global.makeClient()
        let removed = try await client.pruneImages()
        if global.json {
            try Output.json(removed)
            return
        }
        for image in removed {
            Console.stdout((image.digest ?? "-") + "\n")
        }
    }
}
