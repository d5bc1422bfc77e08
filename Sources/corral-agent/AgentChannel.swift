import CorralAgentProtocol
import Glibc

/// The agent's end of the host channel: a descriptor carrying frames both ways.
struct AgentChannel {
    let fd: Int32
    private(set) var decoder = AgentFrameDecoder()

    init(fd: Int32) {
        self.fd = fd
    }

    /// Reads what is available into the decoder. Returns false at end of stream.
    mutating func receive() throws(AgentSystemError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw AgentSystemError("read from the host channel", call: "read")
            }
            if count == 0 { return false }
            decoder.append(chunk[0..<count])
            return true
        }
    }

    /// The next complete frame in the decoder, if any.
    mutating func nextFrame() throws(AgentProtocolError) -> AgentFrame? {
        try decoder.next()
    }

    func send(_ message: AgentMessage, requestID: UInt32) throws(AgentSystemError) {
        let bytes = message.encoded(requestID: requestID)
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var pending = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&pending, 1, -1)
                    continue
                }
                throw AgentSystemError("write to the host channel", call: "write")
            }
            offset += count
        }
    }
}
