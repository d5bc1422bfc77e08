import Foundation
import Testing

struct AssetTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/corral-vmassets-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw AssetTestError("mkdtemp failed") }
        path = String(cString: created)
    }

    deinit {
        // Base images are read-only files in writable directories: removable.
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs a tool to completion (test code only) and returns its status and output.
@discardableResult
func runTool(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

func which(_ name: String) -> String? {
    for directory in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// A minimal busybox rootfs: /bin/busybox with a few applet links, /etc/passwd,
/// the usual empty directories and one file with a distinctive owner and mode.
func makeBusyboxRootfs(at root: String) throws -> Bool {
    guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
    else { return false }
    let manager = FileManager.default
    for directory in ["bin", "etc", "dev", "proc", "sys", "tmp", "root", "srv"] {
        try manager.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
    }
    try manager.copyItem(atPath: busybox, toPath: "\(root)/bin/busybox")
    for applet in ["sh", "echo", "sleep", "cat", "ls", "id", "hostname", "mount", "ip", "env", "pwd", "stat"] {
        try manager.createSymbolicLink(atPath: "\(root)/bin/\(applet)", withDestinationPath: "busybox")
    }
    try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        .write(toFile: "\(root)/etc/passwd", atomically: true, encoding: .utf8)
    try "owned by 1234\n".write(toFile: "\(root)/srv/marker", atomically: true, encoding: .utf8)
    chown("\(root)/srv/marker", 1234, 5678)
    chmod("\(root)/srv/marker", 0o640)
    chmod("\(root)/tmp", 0o1777)
    return true
}
