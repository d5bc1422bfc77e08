import CorralAgentProtocol
import Glibc

/// corral-agent init                 PID 1 of a microVM (refuses otherwise); as PID 1
///                                   any arguments but `serve` mean init (the kernel
///                                   runs `/init` without arguments, or with the
///                                   command line's bare words)
/// corral-agent serve --fd N         serve the host protocol on descriptor N
/// corral-agent serve --socket PATH  connect to a unix socket and serve on it
let usage = "usage: corral-agent init | serve --fd N | serve --socket PATH"

func connectUnixSocket(_ path: String) -> Int32? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    if fd < 0 { return nil }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        close(fd)
        return nil
    }
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (index, byte) in bytes.enumerated() { buffer[index] = byte }
    }
    let status = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if status != 0 {
        close(fd)
        return nil
    }
    return fd
}

func serve(arguments: ArraySlice<String>) -> Int32 {
    let fd: Int32
    switch (arguments.first, arguments.dropFirst().first) {
    case ("--fd", let value?):
        guard let number = Int32(value), number >= 0 else {
            Console.print(usage)
            return 2
        }
        fd = number
    case ("--socket", let path?):
        guard let connected = connectUnixSocket(path) else {
            Console.print(AgentSystemError("connect to the host", call: "connect", path: path).description)
            return 1
        }
        fd = connected
    default:
        Console.print(usage)
        return 2
    }
    var channel = AgentChannel(fd: fd)
    do throws(AgentSystemError) {
        try AgentServer().serve(&channel)
        return 0
    } catch {
        Console.print("corral-agent: \(error)")
        return 1
    }
}

// A command that stops reading its stdin must not kill the agent.
signal(SIGPIPE, SIG_IGN)
let arguments = CommandLine.arguments.dropFirst()
if getpid() == 1, arguments.first != "serve" { exit(InitSupervisor.main()) }
switch arguments.first {
case "init": exit(InitSupervisor.main())
case "serve": exit(serve(arguments: arguments.dropFirst()))
default:
    Console.print(usage)
    exit(2)
}
