@testable import CorralImages
import CorralCore
import Testing

@Suite struct ImageReferenceTests {
    static let hex = String(repeating: "ab", count: 32)

    @Test(arguments: [
        ("busybox", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("docker.io/library/busybox", "busybox:latest"),
        ("index.docker.io/library/busybox:1", "busybox:1"),
        ("docker.io/corral/app:2", "corral/app:2"),
        ("library/busybox", "library/busybox:latest"),
        ("registry.local:5000/corral/app:1", "registry.local:5000/corral/app:1"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("[::1]:5000/app:v1", "[::1]:5000/app:v1"),
        ("a.b/c__d/e-f.g:Tag_1.x-y", "a.b/c__d/e-f.g:Tag_1.x-y"),
        ("busybox@sha256:\(hex)", "busybox@sha256:\(hex)"),
        ("busybox:1@sha256:\(hex)", "busybox@sha256:\(hex)"),
        ("host:5000/app:1@sha256:\(hex)", "host:5000/app@sha256:\(hex)"),
    ])
    func normalises(_ input: String, _ expected: String) throws {
        #expect(try ImageReference(parsing: input).description == expected)
    }

    @Test(arguments: [
        "", "Busybox", "busybox:", ":tag", "busybox@sha256:abc", "busybox@sha512:\(hex)",
        "busybox@sha256:\(hex.uppercased())", "a//b", "/busybox", "busybox/", "bad host/app", "app:-tag",
        "a..b", "-a", "host:99999/app", "busy box",
    ])
    func rejects(_ input: String) {
        let error = #expect(throws: CorralError.self) { try ImageReference(parsing: input) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix("failed to parse image reference '\(input)': ") == true)
    }

    @Test func registryOfAReference() throws {
        #expect(try ImageReference(parsing: "busybox").registry == "docker.io")
        #expect(try ImageReference(parsing: "corral/app").registry == "docker.io")
        #expect(try ImageReference(parsing: "127.0.0.1:5000/corral/app").registry == "127.0.0.1:5000")
        #expect(try ImageReference(parsing: "localhost/app").registry == "localhost")
    }

    @Test func digestsAreStrict() {
        #expect(ImageDigest("sha256:\(Self.hex)")?.hex == Self.hex)
        #expect(ImageDigest("sha256:\(Self.hex.uppercased())") == nil)
        #expect(ImageDigest("sha256:\(Self.hex)0") == nil)
        #expect(ImageDigest("sha256:\(String(Self.hex.dropLast()))g") == nil)
        #expect(ImageDigest("md5:\(Self.hex)") == nil)
        #expect(ImageDigest(Self.hex) == nil)
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(ImageDigest.of([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(ImageDigest.of(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(ImageDigest.of(long).hex == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(SHA256.hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
